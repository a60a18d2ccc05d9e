"""Benchmark of the partial re-solve: one community after a zone change, against the whole scenario.

    python bench/bench_resolve.py --size street --seed 3
    python bench/bench_resolve.py --scenario /tmp/street --community 3

Solves the whole scenario once (the published schedule), then for a building and a compound
of the community sealed in turn times the re-solve of the whole scenario from the published
schedule (`solve_schedule`, what the workers did before) and the partial re-solve
(`resolve_communities`), and prints seconds, changed visits, unserved residents and the
validator's verdict of each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.generate import generate
from scheduler.ledger import read_scenario
from scheduler.plan import solve_schedule
from scheduler.resolve import resolve_communities, with_zone
from scheduler.schedule import changed_visits
from scheduler.validate import validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="street")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--scenario", type=Path, help="an existing scenario folder instead of generating one")
    parser.add_argument("--community", type=int, default=3, help="row of the community whose zone changes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.scenario
        if folder is None:
            folder = Path(tmp) / args.size
            generate(args.size, args.seed, folder)
        base = read_scenario(folder, salt=b"bench")
    began = time.perf_counter()
    published = solve_schedule(base)
    print(
        f"{len(base.residents):,} residents, {len(base.communities)} communities; "
        f"whole solve {time.perf_counter() - began:.2f} s"
    )

    c = args.community
    normal = np.flatnonzero((base.buildings.community == c) & (base.building_level() == 0))
    building = int(np.intersect1d(normal, base.residents.building)[0])
    in_community = int((base.buildings.community[base.residents.building] == c).sum())
    print(f"community {base.communities[c]}: {in_community:,} residents")
    for scope, target in (("building", building), ("compound", int(base.buildings.compound[building]))):
        scenario = with_zone(base, "sealed", scope, target)
        for name, solve in (
            ("whole re-solve", lambda s=scenario: solve_schedule(s, previous=published)),
            ("partial re-solve", lambda s=scenario: resolve_communities(s, published, {c})),
        ):
            began = time.perf_counter()
            schedule = solve()
            seconds = time.perf_counter() - began
            changed = len(changed_visits(published, schedule))
            print(
                f"sealed {scope:8s} {name:16s} {seconds:6.2f} s  changed visits {changed:6,}"
                f"  unserved {len(schedule.unserved):4,}  valid {validate(scenario, schedule).ok}"
            )


if __name__ == "__main__":
    main()
