"""Benchmark the fan-out of a district solve through real `sched worker` processes on Redis and PostgreSQL.

    PYTHONPATH=. .venv/bin/python bench/bench_fanout.py [--district DIR] [--postgres URL] [--redis URL]
        [--part-residents N] [--skip-whole]

Each run imports the district ledger into a fresh PostgreSQL database, starts `sched worker
--processes P --threads 1` (one solve at a time per process; every part solves with one process
for the staffing too), requests a solve (`request_solve`) and times it to the published version:

1. the whole solve, not fanned out (FANOUT_MIN_RESIDENTS above the district), 1 worker process:
   the reference time and quality;
2. the fan-out into parts of about --part-residents residents, with 1 and with 2 worker processes:
   the speed-up of 2 over 1, and of the fan-out over the whole solve;
3. the quality cost of cutting (residents keep to their part's points): covered, unserved,
   walking (total and mean), desks opened, staff hours, against the whole solve.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench_workers import SALT, SCHED, wait_published, workers  # the script's folder is on sys.path

from scheduler.domain import Scenario
from scheduler.ledger import read_scenario
from store import versions
from store.engine import scratch_database
from store.ledger_import import import_scenario
from workers import jobs

QUALITY = ("covered", "walk_m_total", "walk_m_mean", "walk_m_lower_bound", "desks_opened", "staff_hours")


def load() -> str:
    return os.popen("uptime").read().strip().split("load average:")[-1].strip()


def solve(admin_url: str, redis_url: str, scenario: Scenario, processes: int, fan_out: bool) -> dict[str, Any]:
    """Import, start the workers, request a solve; the seconds to its publication and its KPIs."""
    os.environ["FANOUT_MIN_RESIDENTS"] = "1" if fan_out else str(len(scenario.residents) + 1)
    with scratch_database(admin_url, "bench_fanout") as engine:
        scenario_id = import_scenario(engine, scenario, "bench-district")[0]
        with workers(engine, redis_url, processes):
            began, before = time.perf_counter(), load()
            jobs.request_solve(engine, scenario_id)
            version = wait_published(engine, scenario_id, None, 3600, poll=0.5)
            seconds = time.perf_counter() - began
        with engine.connect() as conn:
            kpis: dict[str, Any] = conn.execute(
                sa.select(versions.VERSION.c.kpis).where(versions.VERSION.c.id == version)
            ).scalar_one()
    what = f"fan-out into {len(kpis['parts'])} parts" if fan_out else "whole solve"
    print(
        f"  {what}, {processes} worker process(es): request → published {seconds:.1f} s "
        f"(load before {before}, after {load()})",
        flush=True,
    )
    for part in kpis.get("parts", []):
        print(f"    part {part['part']}: {part['residents']} residents, solved in {part['solve_seconds']:.1f} s")
    return {"seconds": seconds, **kpis}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--district", type=Path, default=Path("/tmp/district"))
    parser.add_argument(
        "--postgres", default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--redis", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    parser.add_argument("--part-residents", type=int, default=250_000)
    parser.add_argument("--skip-whole", action="store_true", help="only the fan-out runs")
    args = parser.parse_args()
    if not args.district.exists():
        subprocess.run(
            [str(SCHED), "generate", "--size", "district", "--seed", "1", "--out", str(args.district)], check=True
        )
    os.environ["FANOUT_PART_RESIDENTS"] = str(args.part_residents)
    district = read_scenario(args.district, salt=SALT)
    print(f"district: {len(district.residents)} residents, {len(district.communities)} communities", flush=True)
    runs: dict[str, dict[str, Any]] = {}
    for processes in (2, 1):
        runs[f"fan-out, {processes} process(es)"] = solve(args.postgres, args.redis, district, processes, fan_out=True)
    if not args.skip_whole:
        runs["whole, 1 process"] = solve(args.postgres, args.redis, district, 1, fan_out=False)
    one, two = runs["fan-out, 1 process(es)"]["seconds"], runs["fan-out, 2 process(es)"]["seconds"]
    print(f"fan-out: 1 process {one:.1f} s, 2 processes {two:.1f} s, speed-up {one / two:.2f}")
    if "whole, 1 process" in runs:
        whole = runs["whole, 1 process"]["seconds"]
        print(f"whole solve (1 process) {whole:.1f} s: fan-out with 2 processes is {whole / two:.2f}× faster")
    print("quality:", "  ".join(QUALITY), "unserved")
    for name, kpis in runs.items():
        figures = "  ".join(str(kpis.get(key)) for key in QUALITY)
        print(f"  {name}: {figures}  {len(kpis['unserved'])}")


if __name__ == "__main__":
    main()
