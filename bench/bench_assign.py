"""Benchmark of the assignment solver against the coordinator's greedy method.

    python bench/bench_assign.py --size district --seed 1
    python bench/bench_assign.py --scenario /tmp/district --skip-greedy

Generates the scenario (unless --scenario is given), reads it, then times the solve
alone (reading excluded) and prints solve seconds, peak RSS, coverage, walking against
its proven lower bound, and slot utilisation side by side with the greedy baseline.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.generate import generate
from scheduler.assign.greedy import greedy_assignment
from scheduler.assign.solve import solve_assignment
from scheduler.kpis import CROWDED, point_slot_loads, walk_distances
from scheduler.ledger import read_scenario
from scheduler.validate import validate


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="district")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenario", type=Path, help="an existing scenario folder instead of generating one")
    parser.add_argument("--skip-greedy", action="store_true", help="only the optimiser (for the city size)")
    parser.add_argument("--skip-validate", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.scenario
        if folder is None:
            folder = Path(tmp) / args.size
            began = time.perf_counter()
            generate(args.size, args.seed, folder)
            print(f"generated {args.size} seed {args.seed} in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        scenario = read_scenario(folder, salt=b"bench")
        print(f"read {len(scenario.residents):,} residents in {time.perf_counter() - began:.1f} s")
        rss_before = peak_rss_gib()

        began = time.perf_counter()
        schedule = solve_assignment(scenario)
        solve_s = time.perf_counter() - began
        rss_after = peak_rss_gib()
        k = schedule.kpis
        print(f"solve: {solve_s:.2f} s wall; peak RSS {rss_after:.2f} GiB (after reading: {rss_before:.2f} GiB)")
        print(f"objective terms: {k['objective']}")
        door = k.get("doorstep", {})
        print(
            "doorstep: {} households, {} teams, last sealed visit at {} min (bound {}), {} team-hours, {} s".format(
                *(
                    door.get(key)
                    for key in (
                        "doorstep_households",
                        "teams",
                        "completion_minutes",
                        "lower_bound_minutes",
                        "team_hours",
                        "plan_seconds",
                    )
                )
            )
        )

        rows = [
            ("residents", f"{k['residents']:,}"),
            ("covered", f"{k['covered']:,}"),
            ("at points", f"{k['covered'] - k['doorstep_residents']:,}"),
            ("unserved", f"{len(schedule.unserved):,}"),
            ("walk total km", f"{k['walk_m_total'] / 1000:,.1f}"),
            ("walk lower bound km", f"{k['walk_m_lower_bound'] / 1000:,.1f}"),
            ("walk gap to bound", f"{k['walk_gap']:.4%}"),
            ("mean walk m", f"{k['walk_m_mean']:.0f}"),
            ("max slot utilisation", f"{k['max_slot_utilisation']:.3f}"),
            ("mean slot utilisation", f"{k['mean_slot_utilisation']:.3f}"),
            ("share in slots > 80 %", f"{k['share_in_crowded_slots']:.3f}"),
            ("special at accessible", f"{k['special_at_accessible_share']:.3f}"),
        ]
        greedy_rows: list[str] = []
        if not args.skip_greedy:
            began = time.perf_counter()
            greedy = greedy_assignment(scenario)
            greedy_s = time.perf_counter() - began
            capacity = scenario.settings.slot_capacity(scenario.points.desks)[:, None]
            loads = point_slot_loads(scenario, greedy)
            used = loads > 0
            utilisation = (loads / np.maximum(capacity, 1))[used]
            walk = walk_distances(scenario, greedy)
            points_covered = int((greedy.mode != 0).sum())
            greedy_rows = [
                "",
                "",
                f"{points_covered:,}",
                f"{len(scenario.residents) - points_covered - k['doorstep_residents']:,} (no room)",
                f"{walk.sum() / 1000:,.1f}",
                "",
                f"{(walk.sum() - k['walk_m_lower_bound']) / k['walk_m_lower_bound']:.4%}",
                f"{walk.mean():.0f}",
                f"{utilisation.max():.3f}",
                f"{(loads[used] * utilisation).sum() / loads[used].sum():.3f}",
                f"{loads[used][utilisation > CROWDED].sum() / loads[used].sum():.3f}",
                "",
            ]
            print(f"greedy: {greedy_s:.2f} s wall")
        print()
        print(f"{'':24}{'optimiser':>18}{'greedy':>26}")
        for i, (name, value) in enumerate(rows):
            print(f"{name:24}{value:>18}{greedy_rows[i] if greedy_rows else '':>26}")

        if not args.skip_validate:
            began = time.perf_counter()
            report = validate(scenario, schedule)
            print(f"\nvalidated in {time.perf_counter() - began:.1f} s: {'ok' if report.ok else 'VIOLATIONS'}")
            if not report.ok:
                print(report.text())


if __name__ == "__main__":
    main()
