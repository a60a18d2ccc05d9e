"""Benchmark: read a district ledger (≈1,000,000 residents) and import it into SQLite and PostgreSQL.

    PYTHONPATH=. .venv/bin/python bench/bench_import.py [--scenario DIR] [--postgres URL]

Without --scenario a ledger of --size (default `district`) is generated with --seed into a
temporary folder. Prints wall seconds for each phase and the process's peak RSS. Targets on the
2-core reference machine: read + import ≤ 60 s into SQLite, ≤ 90 s into PostgreSQL.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.pool import NullPool

from scheduler.ledger import ledger_digest, read_scenario
from store.engine import make_engine, normalise_url, upgrade
from store.ledger_import import import_scenario

T = TypeVar("T")
SALT = b"bench-salt"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def timed(label: str, action: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    print(f"{label:<28} {seconds:8.2f} s   peak RSS {peak_rss_mb():8.0f} MB", flush=True)
    return result, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, help="an existing ledger folder or .xlsx (default: generate one)")
    parser.add_argument("--size", default="district", help="generator size when no --scenario (default: district)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", metavar="URL", help="also import into a fresh database on this server")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        folder = args.scenario
        if folder is None:
            from fixtures.generate import generate

            folder = Path(tmp) / f"{args.size}-{args.seed}"
            timed(f"generate {args.size}", lambda: generate(args.size, args.seed, folder))

        scenario, read_s = timed("read_scenario", lambda: read_scenario(folder, salt=SALT))
        digest, digest_s = timed("ledger_digest", lambda: ledger_digest(folder, salt=b"bench"))
        read_total = read_s + digest_s
        print(
            f"  {len(scenario.residents):,} residents, {len(scenario.buildings):,} buildings, "
            f"{len(scenario.points):,} points, {len(scenario.workers):,} workers"
        )

        targets = {"sqlite": 60.0, "postgresql": 90.0}
        totals: dict[str, float] = {}

        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        timed("sqlite upgrade", lambda: upgrade(engine))
        _, insert_s = timed("sqlite import", lambda: import_scenario(engine, scenario, digest))
        timed("sqlite re-import (no-op)", lambda: import_scenario(engine, scenario, digest))
        engine.dispose()
        totals["sqlite"] = read_total + insert_s

        if args.postgres:
            admin = make_engine(args.postgres, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            name = f"bench_import_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            try:
                pg = make_engine(normalise_url(args.postgres).set(database=name))
                timed("postgresql upgrade", lambda: upgrade(pg))
                _, insert_s = timed("postgresql import", lambda: import_scenario(pg, scenario, digest))
                timed("postgresql re-import (no-op)", lambda: import_scenario(pg, scenario, digest))
                pg.dispose()
                totals["postgresql"] = read_total + insert_s
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()

    ok = True
    for backend, total in totals.items():
        verdict = "ok" if total <= targets[backend] else "OVER TARGET"
        ok &= total <= targets[backend]
        print(f"read + import into {backend:<10} {total:8.2f} s   (target ≤ {targets[backend]:.0f} s) {verdict}")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
