"""Benchmark of staff sizing: time and answer for finishing a generated street (or district) within N hours.

    .venv/bin/sched generate --size street --seed 3 --out /tmp/street
    python bench/bench_sizing.py --scenario /tmp/street --hours 12 [--drop-samplers 0.5]

Reads the ledger, optionally removes a share of the samplers (every k-th worker who can sample, so the
round is short-staffed), sizes the staff for --hours (`scheduler.sizing.size_staff`) and prints the
time, the machine's load, the workers called in by role, the bottleneck and the verification (served,
unserved by reason, last visit against the round's end, validator).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.domain import SKILL_BIT, Scenario
from scheduler.ledger import read_scenario
from scheduler.limits import SolverLimits
from scheduler.sizing import size_staff
from scheduler.whatif import RemoveWorker, apply_changes


def without_samplers(scenario: Scenario, share: float) -> Scenario:
    """The scenario with `share` of its samplers (evenly spread over the ledger) removed."""
    wk = scenario.workers
    samplers = np.flatnonzero((wk.skills & SKILL_BIT["sample"]) != 0)
    drop = samplers[np.linspace(0, len(samplers) - 1, int(len(samplers) * share)).astype(np.int64)]
    return apply_changes(scenario, [RemoveWorker(wk.ids[i]) for i in np.unique(drop).tolist()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, default=Path("/tmp/street"))
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--drop-samplers", type=float, default=0.0, help="share of the samplers to remove first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    began = time.perf_counter()
    scenario = read_scenario(args.scenario, salt=b"bench")
    if args.drop_samplers:
        scenario = without_samplers(scenario, args.drop_samplers)
    read_s = time.perf_counter() - began
    print(
        f"{args.scenario}: {len(scenario.residents):,} residents, {len(scenario.points)} points, "
        f"{len(scenario.workers):,} workers (read {read_s:.1f} s); load before: {os.getloadavg()[0]:.2f}"
    )
    began = time.perf_counter()
    sizing = size_staff(
        scenario,
        args.hours,
        limits=SolverLimits(seed=args.seed, time_limit_s=10.0, processes=args.processes),
        progress=lambda step: print(f"  {time.perf_counter() - began:7.1f} s  {step}", flush=True),
    )
    seconds = time.perf_counter() - began
    figures = sizing.figures()
    print(f"sizing for {args.hours:g} h: {seconds:.1f} s; load after: {os.getloadavg()[0]:.2f}")
    print(
        f"added {figures['added_workers']} workers, {figures['added_worker_hours']} worker-hours: "
        f"{figures['added_by_role']}"
    )
    print(f"bottleneck ({figures['bottleneck_kind']}):")
    for line in figures["bottleneck"]:
        print(f"  {line}")
    print("verification:", json.dumps(figures["verification"], ensure_ascii=False))


if __name__ == "__main__":
    main()
