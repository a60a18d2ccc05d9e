"""Benchmark of site selection: the 20 OR-Library pmedcap instances, and the district fixture.

    python bench/bench_siting.py pmedcap
    python bench/bench_siting.py district --scenario /tmp/district --candidates 1500 --open-at-most 450

`pmedcap` solves each instance of fixtures/pmedcap (from ../shared/data/pmedcap) (the optimum in its header is only
compared afterwards) and prints the start the heuristics reach before the MIP and when, the time,
value, proven bound and whether it is the published optimum. `district` reads (or generates) the
district, adds generated candidate sites up to --candidates, chooses --open-at-most of them (or
the fewest, with --fewest), and prints each stage's time, walking, bound and gap.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.generate import generate
from scheduler.ledger import read_scenario
from scheduler.limits import SolverLimits
from scheduler.siting.plan import site_scenario
from scheduler.siting.pmedcap import read_pmedcap
from scheduler.siting.solve import open_at_most

PMEDCAP = Path(__file__).resolve().parent.parent / "fixtures" / "pmedcap"


def bench_pmedcap(args: argparse.Namespace) -> None:
    files = sorted(args.data.glob("pmedcap*.zip"))
    if not files:
        sys.exit(f"no pmedcap*.zip in {args.data}")
    print(
        f"{'instance':<10} {'n':>4} {'p':>3} {'start':>6} {'found':>6} {'bound':>6} {'published':>9} "
        f"{'start s':>7} {'seconds':>8}  proven"
    )
    total, matched, proven = 0.0, 0, 0
    for path in files:
        instance = read_pmedcap(path)
        began = time.perf_counter()
        result = open_at_most(instance.problem, instance.medians, SolverLimits(0, args.time_limit, 2))
        seconds = time.perf_counter() - began
        start = int(result.stages.get("swaps_found", result.stages["start"]))  # before the MIP
        total += seconds
        matched += result.objective == instance.published_optimum
        proven += result.optimal
        print(
            f"{instance.name:<10} {instance.problem.n_nodes:>4} {instance.medians:>3} {start:>6} {result.objective:>6} "
            f"{result.bound:>6} {instance.published_optimum:>9} {result.stages['bound_seconds']:>7.1f} "
            f"{seconds:>8.1f}  {'yes' if result.optimal else 'no'}",
            flush=True,
        )
    print(f"{matched}/{len(files)} published optima found, {proven} proven optimal, {total:.1f} s in all")


def bench_district(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.scenario
        if folder is None or not folder.exists():
            folder = folder or Path(tmp) / "district"
            began = time.perf_counter()
            generate("district", args.seed, folder)
            print(f"generated district seed {args.seed} in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        scenario = read_scenario(folder, salt=b"bench")
        seconds = time.perf_counter() - began
        print(f"read {len(scenario.residents):,} residents, {len(scenario.points)} points in {seconds:.1f} s")
        began = time.perf_counter()
        outcome = site_scenario(
            scenario,
            max_open=None if args.fewest else args.open_at_most,
            candidates=args.candidates,
            limits=SolverLimits(seed=0, time_limit_s=args.time_limit, workers=2),
            relative_gap=args.gap,
        )
        seconds = time.perf_counter() - began
    figures = outcome.figures()
    problem = outcome.siting.problem
    print(f"demand nodes (buildings) {problem.n_nodes:,}, candidates {problem.n_sites:,}, pairs {problem.n_pairs:,}")
    print(json.dumps({k: v for k, v in figures.items() if k != "simplifications"}, indent=2, ensure_ascii=False))
    print(
        f"chose {figures['points_chosen']} of {figures['candidates']} in {seconds:.1f} s "
        f"(solve {outcome.result.seconds:.1f} s): walking {figures['walk_m_total']:,} person-m "
        f"(mean {figures['walk_m_mean']} m), bound {figures['walk_m_lower_bound']:,}, gap {figures['walk_gap']:.4%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="which", required=True)
    pmedcap = sub.add_parser("pmedcap", help="the 20 OR-Library instances")
    pmedcap.add_argument("--data", type=Path, default=PMEDCAP)
    pmedcap.add_argument("--time-limit", type=float, default=60.0, help="seconds per instance")
    district = sub.add_parser("district", help="the district fixture")
    district.add_argument("--scenario", type=Path, help="an existing scenario folder (generated there if missing)")
    district.add_argument("--seed", type=int, default=1)
    district.add_argument("--candidates", type=int, default=1500)
    district.add_argument("--open-at-most", type=int, default=450)
    district.add_argument("--fewest", action="store_true")
    district.add_argument("--time-limit", type=float, default=300.0)
    district.add_argument("--gap", type=float, default=0.0, help="relative gap at which the MIP may stop")
    args = parser.parse_args()
    bench_pmedcap(args) if args.which == "pmedcap" else bench_district(args)


if __name__ == "__main__":
    main()
