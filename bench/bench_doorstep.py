"""Benchmark of the doorstep planner: one sealed community of about 5,000 households.

    python bench/bench_doorstep.py                       # generator's staff, seed 1
    python bench/bench_doorstep.py --reinforce           # plus the doorstep reinforcements the
                                                         # generator gives a sealed compound
    python bench/bench_doorstep.py --households 3000 --time-limit 5

Generates a district (`fixtures.generate`), takes the community whose household count is
nearest to --households, writes it alone as a ledger (its buildings, residents, points and
workers) with one zone row `sealed,community,<id>`, reads it, and times `plan_doorstep`
on all its households. Prints wall time, completion (last sealed household sampled) and
team-hours against (a) simple lower bounds: for completion, the door and walking time
spread over the teams' duty windows (`kpis["lower_bound_minutes"]`), for team-hours the
door time alone; and (b) the nearest-neighbour baseline with the same teams and duty
windows (`scheduler.doorstep.nearest_neighbour`). Then checks the plan with the
validator (rules 1-5, 7 and 8) unless --skip-validate.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.generate import STAFF_MARGIN, WORK_HOURS_PER_DAY, generate
from scheduler.assign.demand import AT_POINT
from scheduler.assign.eligibility import reach
from scheduler.doorstep import apply_doorstep, nearest_neighbour, plan_doorstep
from scheduler.ledger import read_scenario
from scheduler.limits import SolverLimits
from scheduler.schedule import Schedule
from scheduler.validate import validate

DOORSTEP_WALK_FACTOR = 1.2  # the generator's planning figure for walking on top of door time


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def sealed_community(district: Path, out: Path, households: int, reinforce: bool) -> tuple[str, int]:
    """Write the community nearest to `households` households as a sealed ledger; return its id and size."""
    b_head, buildings = _rows(district / "buildings.csv")
    r_head, residents = _rows(district / "residents.csv")
    community_of = {b["building_id"]: b["community_id"] for b in buildings}
    count: dict[str, set[str]] = {}
    for r in residents:
        count.setdefault(community_of[r["building_id"]], set()).add(r["household_id"])
    cid = min(sorted(count), key=lambda c: abs(len(count[c]) - households))
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.toml").write_text((district / "scenario.toml").read_text("utf-8"), "utf-8")
    _write(out / "buildings.csv", b_head, [b for b in buildings if b["community_id"] == cid])
    _write(out / "residents.csv", r_head, [r for r in residents if community_of[r["building_id"]] == cid])
    p_head, points = _rows(district / "points.csv")
    _write(out / "points.csv", p_head, [p for p in points if p["community_id"] == cid])
    w_head, workers = _rows(district / "workers.csv")
    mine = [w for w in workers if w["community_id"] == cid]
    if reinforce:
        # What the generator adds where doorstep work exceeds the samplers' spare hours.
        door_hours = len(count[cid]) * 6 / 60 * DOORSTEP_WALK_FACTOR
        have = sum("doorstep" in w["skills"].split(";") for w in mine)
        extra = max(0, math.ceil((STAFF_MARGIN * door_hours - have * WORK_HOURS_PER_DAY) / WORK_HOURS_PER_DAY))
        mine += [
            {"worker_id": f"WX{i + 1:05d}", "name": "", "kind": "medical", "skills": "sample;doorstep",
             "community_id": cid, "available": ("24小时", "07:00-19:00", "13:00-22:00")[i % 3]}
            for i in range(extra)
        ]
    _write(out / "workers.csv", w_head, mine)
    (out / "zones.csv").write_text(f"level,scope,target_id\nsealed,community,{cid}\n", "utf-8")
    return cid, len(count[cid])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--households", type=int, default=5000, help="size of the sealed community")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per OR-Tools search (safety net)")
    parser.add_argument("--reinforce", action="store_true", help="add the generator's doorstep reinforcements")
    parser.add_argument("--skip-validate", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        generate("district", args.seed, Path(tmp) / "district")
        cid, n_households = sealed_community(Path(tmp) / "district", Path(tmp) / "sealed", args.households,
                                             args.reinforce)
        print(f"district seed {args.seed}: community {cid} sealed, {n_households:,} households "
              f"({time.perf_counter() - began:.1f} s to generate and cut)")
        scenario = read_scenario(Path(tmp) / "sealed", salt=b"bench")
        demand = reach(scenario).demand
        households = np.flatnonzero(demand.doorstep != AT_POINT)

        limits = SolverLimits(time_limit_s=args.time_limit)
        began = time.perf_counter()
        plan = plan_doorstep(scenario, households, limits=limits)
        wall = time.perf_counter() - began
        k = plan.kpis
        base = nearest_neighbour(scenario, households, plan)

        print(f"workers: {len(scenario.workers)}, doorstep+sample available {k['samplers_available']}, "
              f"used {k['samplers_used']}")
        print(f"plan_doorstep: {wall:.2f} s wall ({k['route_seconds']:.2f} s in {k['routing_solves']} routing and "
              f"{k['tour_solves']} tour searches, {k['time_limited_solves']} stopped by the clock)")
        print(f"{'':24}{'planner':>12}{'lower bound':>14}{'nearest nb.':>14}")
        print(f"{'households visited':24}{k['doorstep_households']:>12,}{'':>14}{base['doorstep_households']:>14,}")
        print(f"{'completion (min)':24}{k['completion_minutes']:>12.1f}{k['lower_bound_minutes']:>14.1f}"
              f"{base['completion_minutes']:>14.1f}")
        print(f"{'team-hours':24}{k['team_hours']:>12.1f}{k['busy_hours']:>14.1f}{base['team_hours']:>14.1f}")
        print("(lower bounds: completion from the teams' duty windows and door + walking time; team-hours: door time)")
        print(f"teams {k['teams']}, walking {k['walk_minutes']:.0f} min, unserved households "
              f"{k['unserved_households']:,} (sealed {k['sealed_unserved']:,})")
        if not args.skip_validate:
            n = len(scenario.residents)
            schedule = Schedule.blank(n)
            apply_doorstep(scenario, schedule, plan)
            schedule.has_roster = True
            report = validate(scenario, schedule)
            for rule in ("1", "2", "3", "4", "5", "7", "8"):
                print(report.result(rule).line().splitlines()[0])


if __name__ == "__main__":
    main()
