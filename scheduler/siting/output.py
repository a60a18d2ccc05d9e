"""The chosen points as a contract `points.csv`, and the figures as `siting.json`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from scheduler.domain import NO_REF
from scheduler.ledger.columns import POINTS
from scheduler.siting.plan import ScenarioSitingResult

POINT_COLUMNS = ("point_id", "name", "community_id", "compound_id", "lat", "lon", "desks", "hours", "accessible")
assert set(POINT_COLUMNS) == set(POINTS.columns)


def write_points(path: Path, outcome: ScenarioSitingResult) -> None:
    """The chosen points, one row each, in candidate order, readable by the ledger reader."""
    scenario = outcome.siting.scenario
    points = outcome.chosen_points()
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(POINT_COLUMNS)
        for r in range(len(points)):
            community, compound = int(points.community[r]), int(points.compound[r])
            writer.writerow(
                (
                    points.ids[r],
                    points.names[r],
                    scenario.communities[community] if community != NO_REF else "",
                    scenario.compounds[compound] if compound != NO_REF else "",
                    f"{points.lat[r]:.6f}",
                    f"{points.lon[r]:.6f}",
                    int(points.desks[r]),
                    points.hours[r].text,
                    "true" if points.accessible[r] else "false",
                )
            )


def write_figures(path: Path, outcome: ScenarioSitingResult) -> None:
    path.write_text(json.dumps(outcome.figures(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
