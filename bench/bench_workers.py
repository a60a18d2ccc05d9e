"""Benchmark the workers on real Redis and PostgreSQL, through real `sched worker` processes.

    PYTHONPATH=. .venv/bin/python bench/bench_workers.py [--district DIR] [--postgres URL] [--redis URL]
        [--changes N] [--skip-district | --only-district [--only-save]]

1. Zone change → published version, for one community of ≈10,000 residents cut out of the
   district ledger (its buildings, residents, own points and workers, and zones): N changes one
   after another (a compound sealed, then lifted, ...), each timed from `record_zone_change` to
   `newest_published` returning the new version. Prints p50, p95, max. Target: p95 ≤ 3 s.
2. A `district` solve (≈1,000,000 residents) requested through `request_solve`, with 1 and with 2
   worker processes: seconds to the published version, and the speed-up.
3. `save_draft` of a district schedule (≈1,000,000 visits, everyone at a point) on PostgreSQL and
   SQLite, without and with a parent (the diff count); run before the district solves.

The district ledger is generated (`sched generate --size district --seed 1`) when --district does
not exist. Each run uses a fresh PostgreSQL database (dropped at the end) and its own Redis namespace.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import dramatiq
import numpy as np
import sqlalchemy as sa
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from scheduler.domain import Scenario
from scheduler.ledger import read_scenario
from scheduler.schedule import POINT, Schedule
from store import versions
from store.engine import make_engine, scratch_database, upgrade
from store.ledger_import import import_scenario
from workers import jobs
from workers.relay import JOB

REPO = Path(__file__).resolve().parent.parent
SCHED = Path(sys.executable).with_name("sched")
SALT = b"bench"


def community_ledger(district: Path, out: Path, residents: int = 10_000) -> str:
    """Write the community of `district` whose resident count is nearest `residents`; return its id."""
    with (district / "buildings.csv").open(encoding="utf-8") as f:
        building_community = {row["building_id"]: row["community_id"] for row in csv.DictReader(f)}
    with (district / "residents.csv").open(encoding="utf-8") as f:
        counts = Counter(building_community[row["building_id"]] for row in csv.DictReader(f))
    community = min(counts, key=lambda c: (abs(counts[c] - residents), c))
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.toml").write_text((district / "scenario.toml").read_text("utf-8"), "utf-8")
    with (district / "buildings.csv").open(encoding="utf-8") as f:
        compounds = {row["compound_id"] for row in csv.DictReader(f) if row["community_id"] == community}

    def keep(name: str, wanted: Callable[[dict[str, str]], bool]) -> None:
        with (
            (district / name).open(encoding="utf-8", newline="") as f,
            (out / name).open("w", encoding="utf-8", newline="") as g,
        ):
            reader = csv.DictReader(f)
            writer = csv.DictWriter(g, fieldnames=reader.fieldnames or [])
            writer.writeheader()
            writer.writerows(row for row in reader if wanted(row))

    keep("buildings.csv", lambda row: row["community_id"] == community)
    keep("residents.csv", lambda row: building_community[row["building_id"]] == community)
    keep("points.csv", lambda row: row["community_id"] == community)
    keep("workers.csv", lambda row: row["community_id"] == community)
    keep(
        "zones.csv",
        lambda row: (
            row["target_id"] in (community, *compounds) or building_community.get(row["target_id"]) == community
        ),
    )
    return community


@contextmanager
def workers(engine: Engine, redis_url: str, processes: int) -> Iterator[None]:
    """`sched worker --processes N` on a Redis namespace of its own; this process sends on the same one."""
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(url=redis_url, namespace=namespace)
    dramatiq.set_broker(broker)
    env = {
        **os.environ,
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": namespace,
    }
    log = tempfile.NamedTemporaryFile(prefix="bench-workers-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [str(SCHED), "worker", "--processes", str(processes)],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        for key in broker.client.scan_iter(f"{namespace}*"):
            broker.client.delete(key)
        broker.close()
        print(f"  (worker log: {log.name})")


def wait_published(engine: Engine, scenario_id: int, other_than: int | None, timeout: float, poll: float = 0.01) -> int:
    """The new newest published version; fails as soon as a job of the scenario fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = versions.newest_published(engine, scenario_id)
        if found is not None and found != other_than:
            return found
        with engine.connect() as conn:
            failed = conn.execute(
                sa.select(JOB.c.id, JOB.c.error).where(JOB.c.scenario_id == scenario_id, JOB.c.status == "failed")
            ).first()
        if failed is not None:
            raise RuntimeError(f"job {failed.id} failed: {failed.error}")
        time.sleep(poll)
    raise TimeoutError(f"no new version of scenario {scenario_id} within {timeout:g} s")


def zone_change_latency(admin_url: str, redis_url: str, ledger: Path, changes: int) -> None:
    scenario = read_scenario(ledger, salt=SALT)
    compounds = scenario.compounds
    print(f"community {scenario.communities[0]}: {len(scenario.residents)} residents, {len(compounds)} compounds")
    with scratch_database(admin_url, "bench_workers") as engine, workers(engine, redis_url, 1):
        scenario_id = import_scenario(engine, scenario, "bench-community")[0]
        began = time.perf_counter()
        jobs.request_solve(engine, scenario_id)
        version = wait_published(engine, scenario_id, None, 600)
        print(f"  initial solve → published: {time.perf_counter() - began:.2f} s")
        latencies: list[float] = []
        overheads: list[float] = []  # all but the solver: settle delay, queue, load, validate, save, publish
        waits: list[float] = []  # the change recorded → its re-solve's job row (settle delay, queue, lock)
        for i in range(changes):
            compound = compounds[(i // 2) % len(compounds)]
            level = "sealed" if i % 2 == 0 else "normal"
            began = time.perf_counter()
            change = jobs.record_zone_change(
                engine,
                scenario_id,
                level=level,
                scope="compound",
                target_id=compound,
                effective_at=datetime(2022, 4, 12, 9),
            )
            version = wait_published(engine, scenario_id, version, 900)
            latencies.append(time.perf_counter() - began)
            with engine.connect() as conn:
                kpis = conn.execute(
                    sa.select(versions.VERSION.c.kpis).where(versions.VERSION.c.id == version)
                ).scalar_one()
                recorded = conn.execute(
                    sa.select(versions.ZONE_CHANGE.c.created_at).where(versions.ZONE_CHANGE.c.id == change)
                ).scalar_one()
                taken = conn.execute(sa.select(sa.func.max(JOB.c.created_at)).where(JOB.c.kind == "resolve")).scalar()
            overheads.append(latencies[-1] - kpis["solve_seconds"])
            waits.append((taken - recorded).total_seconds())
            print(
                f"  change {i + 1}: compound {compound} {level}: {latencies[-1]:.2f} s "
                f"(solver {kpis['solve_seconds']:.2f} s, the rest {overheads[-1]:.2f} s, "
                f"of which {waits[-1]:.2f} s before a worker took it)"
            )
        for name, figures in (
            ("zone change → published", latencies),
            ("  of which not the solver", overheads),
            ("  of which before a worker took it", waits),
        ):
            print(
                f"{name} ({changes} changes): p50 {statistics.median(figures):.2f} s, p95 {p95(figures):.2f} s, "
                f"max {max(figures):.2f} s"
            )
        print("  load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def p95(figures: list[float]) -> float:
    ordered = sorted(figures)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def district_solve(admin_url: str, redis_url: str, scenario: Scenario) -> None:
    seconds: dict[int, float] = {}
    for processes in (1, 2):
        with scratch_database(admin_url, "bench_workers") as engine:
            began = time.perf_counter()
            scenario_id = import_scenario(engine, scenario, "bench-district")[0]
            print(f"  imported into PostgreSQL in {time.perf_counter() - began:.1f} s")
            with workers(engine, redis_url, processes):
                began = time.perf_counter()
                jobs.request_solve(engine, scenario_id)
                wait_published(engine, scenario_id, None, 3600, poll=0.5)
                seconds[processes] = time.perf_counter() - began
                print(f"  {processes} worker process(es): request → published {seconds[processes]:.1f} s")
    print(
        f"district solve: 1 process {seconds[1]:.1f} s, 2 processes {seconds[2]:.1f} s, "
        f"speed-up {seconds[1] / seconds[2]:.2f}"
    )


def save_drafts(admin_url: str, scenario: Scenario) -> None:
    """Time `save_draft` of a district schedule (everyone at a point, in ledger order) on PostgreSQL and SQLite,
    the second time with a parent (so with the count of changed visits)."""
    n = len(scenario.residents)
    schedule = Schedule.blank(n)
    rows = np.arange(n)
    schedule.mode[:] = POINT
    schedule.point[:] = rows % len(scenario.points)
    schedule.start[:] = (rows % scenario.settings.n_slots) * scenario.settings.slot_minutes * 60
    schedule.end[:] = schedule.start + scenario.settings.slot_minutes * 60
    with scratch_database(admin_url, "bench_workers") as engine, tempfile.TemporaryDirectory() as folder:
        sqlite = make_engine(f"sqlite:///{folder}/bench.db")
        upgrade(sqlite)
        for name, db in (("PostgreSQL", engine), ("SQLite", sqlite)):
            scenario_id = import_scenario(db, scenario, "bench-district")[0]
            parent = None
            for _ in range(2):
                began = time.perf_counter()
                parent = versions.save_draft(
                    db, scenario_id, schedule, cause="bench", parent_id=parent, seed=0, scenario=scenario
                )
                what = "with the diff against its parent" if _ else "no parent"
                print(f"  save_draft on {name}, {n} visits, {what}: {time.perf_counter() - began:.1f} s")
            # A re-solve of one community: its visits an hour later, the others copied from the parent.
            child = dataclasses.replace(schedule, start=schedule.start + 3600, end=schedule.end + 3600)
            kept = scenario.buildings.community[scenario.residents.building] != 0
            child.start[kept], child.end[kept] = schedule.start[kept], schedule.end[kept]
            began = time.perf_counter()
            versions.save_draft(
                db, scenario_id, child, cause="bench", parent_id=parent, seed=0, scenario=scenario, previous=schedule
            )
            print(
                f"  save_draft on {name}, {int((~kept).sum())} visits of one community changed, the other "
                f"{int(kept.sum())} copied from the parent (previous=): {time.perf_counter() - began:.1f} s"
            )
        sqlite.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--district", type=Path, default=Path("/tmp/district"))
    parser.add_argument(
        "--postgres", default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--redis", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--skip-district", action="store_true", help="only the zone-change latency")
    parser.add_argument("--only-district", action="store_true", help="only the district solves and saves")
    parser.add_argument("--only-save", action="store_true", help="of the district, only the saves")
    args = parser.parse_args()
    if not args.district.exists():
        subprocess.run(
            [str(SCHED), "generate", "--size", "district", "--seed", "1", "--out", str(args.district)], check=True
        )
    if not args.only_district:
        with tempfile.TemporaryDirectory() as folder:
            ledger = Path(folder) / "community"
            community_ledger(args.district, ledger)
            zone_change_latency(args.postgres, args.redis, ledger, args.changes)
    if not args.skip_district:
        began = time.perf_counter()
        district = read_scenario(args.district, salt=SALT)
        print(f"district: {len(district.residents)} residents, read in {time.perf_counter() - began:.1f} s")
        save_drafts(args.postgres, district)
        if not args.only_save:
            district_solve(args.postgres, args.redis, district)


if __name__ == "__main__":
    main()
