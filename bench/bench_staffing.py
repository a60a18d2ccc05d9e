"""Benchmark of the staffing: what the roster costs on top of the assignment, and how good it is.

    python bench/bench_staffing.py --size district --seed 1 --processes 2
    python bench/bench_staffing.py --scenario /tmp/district

Reads the scenario, then times the assignment alone (every desk staffed, door visits
planned) and the whole schedule (assignment, door visits, point staffing, re-assignment
to the staffed desks), and prints the difference, the staffing's own seconds, peak RSS,
the share of the requirement covered per role, hours per kind of worker (least, mean,
most of those on duty), the residents left `no_staff`, and the validator's verdict.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_assign import peak_rss_gib  # the script's folder is on sys.path

from fixtures.generate import generate
from scheduler.assign.solve import solve_assignment
from scheduler.ledger import read_scenario
from scheduler.limits import SolverLimits
from scheduler.plan import solve_schedule
from scheduler.validate import validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="district")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenario", type=Path, help="an existing scenario folder instead of generating one")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.scenario
        if folder is None:
            folder = Path(tmp) / args.size
            generate(args.size, args.seed, folder)
        scenario = read_scenario(folder, salt=b"bench")
        sizes = (len(scenario.residents), len(scenario.points), len(scenario.workers))
        print("{:,} residents, {:,} points, {:,} workers".format(*sizes))

        limits = SolverLimits(processes=args.processes)
        began = time.perf_counter()
        solve_assignment(scenario, limits=limits)
        assign_s = time.perf_counter() - began
        began = time.perf_counter()
        schedule = solve_schedule(scenario, limits=limits)
        whole_s = time.perf_counter() - began
        staffing = schedule.kpis["staffing"]
        print(f"assignment alone {assign_s:.1f} s; whole schedule {whole_s:.1f} s; "
              f"roster on top {whole_s - assign_s:.1f} s (staffing itself {staffing['seconds']:.1f} s, "
              f"{args.processes} processes); peak RSS {peak_rss_gib():.2f} GiB")
        print("requirement covered (worker-slots, per role):", staffing["requirement_coverage"])
        for kind, h in staffing["hours_by_kind"].items():
            print(f"  {kind:10s} {h['on_duty']:5d}/{h['workers']:5d} on duty, hours min {h['min_hours']:.1f} "
                  f"mean {h['mean_hours']:.1f} max {h['max_hours']:.1f}")
        no_staff = sum(1 for u in schedule.unserved if u.reason == "no_staff")
        kpis = schedule.kpis
        print(f"covered {kpis['covered']:,} of {len(scenario.residents):,}; no_staff {no_staff:,}; "
              f"staff hours {kpis['staff_hours']:,.0f}; shortfall lines {len(kpis['staff_shortfall'])}")
        print("objective terms:", staffing["objective"])
        for line in schedule.kpis["staff_shortfall"][:5]:
            print("  ", line["text"])
        report = validate(scenario, schedule)
        print("validator:", "every rule kept" if report.ok else report.text())


if __name__ == "__main__":
    main()
