"""The sized scenario's staff as a contract `workers.csv`, and the figures as `sizing.json`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from scheduler.domain import KINDS, NO_REF, SKILLS, names_of
from scheduler.ledger.columns import WORKERS
from scheduler.sizing.solve import Sizing

WORKER_COLUMNS = ("worker_id", "name", "kind", "skills", "community_id", "available")
assert set(WORKER_COLUMNS) == set(WORKERS.columns)


def write_workers(path: Path, sizing: Sizing) -> None:
    """Every worker of the ledger, then the called-in ones, readable by the ledger reader."""
    scenario = sizing.scenario
    workers = scenario.workers
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(WORKER_COLUMNS)
        for w in range(len(workers)):
            community = int(workers.community[w])
            writer.writerow(
                (
                    workers.ids[w],
                    workers.names[w],
                    KINDS[int(workers.kind[w])],
                    ";".join(names_of(int(workers.skills[w]), SKILLS)),
                    scenario.communities[community] if community != NO_REF else "",
                    workers.available[w].text,
                )
            )


def write_figures(path: Path, sizing: Sizing) -> None:
    path.write_text(json.dumps(sizing.figures(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
