"""Benchmark: residents' look-ups against a published district schedule in PostgreSQL, driven by wrk.

    PYTHONPATH=. .venv/bin/python bench/bench_lookup.py [--district /tmp/district] [--postgres URL]
        [--workers 2] [--connections 32] [--seconds 20]

Prepares once (kept between runs in the database `sched_bench_lookup` on the --postgres server):
reads the district ledger (generated with `sched generate --size district --seed 1` when missing),
imports it, solves it and publishes the schedule with `store.versions`. The solve is the assignment
and doorstep stages (`scheduler.assign.solve.solve_assignment`: every resident a point and slot or a
door visit, desks taken as staffed); `--full-solve` runs the whole `scheduler.plan.solve_schedule`
with point staffing, which on a district takes far longer and changes nothing for a look-up.

Then starts the API with uvicorn (--workers processes, REDIS_URL set so that the rate limits live
in Redis as in production, limits raised so that they count but never refuse) and runs wrk against
two endpoints of the same server:

- `POST /api/v1/residents/lookup`: cycling through --people residents of the ledger, half by id number
  + phone, half by resident id + the phone's last four digits (every answer must be a 200);
- `POST /bare`: a bare FastAPI endpoint added to the same app, sent the same requests: the ceiling of
  the stack.

Prints requests/s and latency percentiles of each, and the ratio. Target on the 2-core machine,
wrk on the same machine: ≥ 2,000 look-ups/s with p99 ≤ 50 ms. Also prints the CPU time each request
cost in each process (the API's workers, the PostgreSQL backends of the bench database, redis-server,
wrk): a figure that other load on the machine changes far less than the throughput, and whose total
says how many look-ups per second two idle cores could serve. Needs `wrk` (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.pool import NullPool

REPO = Path(__file__).resolve().parent.parent
SALT = "bench-lookup-salt"
DATABASE = "sched_bench_lookup"
LOOKUP = "/api/v1/residents/lookup"
# The same requests to both endpoints (the bare one ignores the body), so wrk's own work is the same.
LUA = """
bodies = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Accept-Language"] = "zh-CN"},
                    bodies[(counter %% #bodies) + 1])
end
"""


def app_with_bare() -> FastAPI:
    """The API app with one more route that does nothing: the ceiling of the same server."""
    from api.main import create_app

    app = create_app()

    @app.api_route("/bare", methods=["GET", "POST"], include_in_schema=False)
    async def bare() -> dict[str, str]:
        return {"status": "ok"}

    return app


def prepare(district: Path, url: str, *, full_solve: bool = False) -> str:
    """The bench database with the district imported and a published version; its URL."""
    from scheduler.assign.solve import solve_assignment
    from scheduler.ledger import ledger_digest, read_scenario
    from scheduler.plan import solve_schedule
    from store.engine import make_engine, normalise_url, upgrade
    from store.ledger_import import import_scenario
    from store.versions import newest_published, publish, save_draft

    admin = make_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE}).scalar():
            conn.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    admin.dispose()
    bench_url = normalise_url(url).set(database=DATABASE).render_as_string(hide_password=False)
    engine = make_engine(bench_url)
    upgrade(engine)
    digest = ledger_digest(district, salt=SALT.encode())
    with engine.connect() as conn:
        scenario_id = conn.execute(sa.text("SELECT id FROM scenario WHERE ledger_digest = :d"), {"d": digest}).scalar()
    if scenario_id is None or newest_published(engine, scenario_id) is None:
        began = time.perf_counter()
        scenario = read_scenario(district, salt=SALT.encode())
        scenario_id, _ = import_scenario(engine, scenario, digest)
        print(f"read and imported the district in {time.perf_counter() - began:.0f} s", flush=True)
        began = time.perf_counter()
        schedule = solve_schedule(scenario) if full_solve else solve_assignment(scenario)
        print(f"solved it in {time.perf_counter() - began:.0f} s", flush=True)
        version = save_draft(
            engine, scenario_id, schedule, cause="initial solve", parent_id=None, seed=0, scenario=scenario
        )
        publish(engine, version)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")  # as autovacuum would, in time: fresh statistics for the planner
    with engine.connect() as conn:
        residents = conn.execute(sa.text("SELECT count(*) FROM resident WHERE scenario_id = :s"), {"s": scenario_id})
        visits = conn.execute(
            sa.text("SELECT count(*) FROM visit WHERE version_id = :v"), {"v": newest_published(engine, scenario_id)}
        )
        print(f"scenario {scenario_id}: {residents.scalar()} residents, {visits.scalar()} published visits")
    engine.dispose()
    return bench_url


def people(district: Path, count: int) -> list[str]:
    """JSON bodies of look-ups for `count` residents with id number and phone, half each way."""
    with (district / "residents.csv").open(encoding="utf-8-sig") as f:
        known = [row for row in csv.DictReader(f) if row["id_number"] and row["phone"]]
    chosen = random.Random(1).sample(known, count)
    return [
        json.dumps({"id_number": p["id_number"], "phone": p["phone"]})
        if i % 2
        else json.dumps({"resident_id": p["resident_id"], "phone_last4": p["phone"][-4:]})
        for i, p in enumerate(chosen)
    ]


CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(server_group: int) -> dict[str, float]:
    """CPU seconds used so far by the API server's processes, the bench database's backends and Redis."""
    used: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if int(stat[2]) == server_group:
            who = "api"
        elif DATABASE in command:  # a backend's title names its database
            who = "postgres"
        elif "redis-server" in command:
            who = "redis"
        else:
            continue
        used[who] = used.get(who, 0.0) + (int(stat[11]) + int(stat[12])) / CLOCK_TICK
    return used


def wrk(url: str, seconds: int, connections: int, script: Path, server_group: int) -> dict[str, Any]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s", "-s", str(script)]
    before, children = cpu_seconds(server_group), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    after, wrk_usage = cpu_seconds(server_group), resource.getrusage(resource.RUSAGE_CHILDREN)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    cpu = {who: after[who] - before.get(who, 0.0) for who in after}
    cpu["wrk"] = wrk_usage.ru_utime + wrk_usage.ru_stime - children.ru_utime - children.ru_stime
    cpu_us = {who: 1e6 * seconds / max(requests, 1) for who, seconds in sorted(cpu.items())}
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": percentiles.get("50"),
        "p90": percentiles.get("90"),
        "p99": percentiles.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
        "cpu_us": cpu_us,
    }


def ms(text: str | None) -> float:
    """wrk's latency text (`812.00us`, `4.21ms`, `1.02s`) in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text or "0ms").groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--district", type=Path, default=Path("/tmp/district"))
    parser.add_argument(
        "--postgres", default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--redis", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--seconds", type=int, default=20, help="length of each wrk run")
    parser.add_argument("--people", type=int, default=2000, help="distinct residents looked up")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--full-solve", action="store_true", help="prepare with the whole solve_schedule")
    args = parser.parse_args(argv)

    if not (args.district / "residents.csv").exists():
        subprocess.run(
            [
                str(REPO / ".venv/bin/sched"),
                "generate",
                "--size",
                "district",
                "--seed",
                "1",
                "--out",
                str(args.district),
            ],
            check=True,
        )
    bench_url = prepare(args.district, args.postgres, full_solve=args.full_solve)
    bodies = people(args.district, args.people)

    env = {
        **os.environ,
        "DATABASE_URL": bench_url,
        "REDIS_URL": args.redis,
        "HASH_SALT": SALT,
        "ENVIRONMENT": "production",
        "LOOKUP_CLIENT_LIMIT": str(10**9),
        "LOOKUP_PERSON_LIMIT": str(10**9),
        "EMBEDDED_WORKER": "false",
        "PYTHONPATH": str(REPO),
    }
    server = subprocess.Popen(
        [
            str(REPO / ".venv/bin/uvicorn"),
            "--factory",
            "bench_lookup:app_with_bare",
            "--app-dir",
            str(REPO / "bench"),
            "--port",
            str(args.port),
            "--workers",
            str(args.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        answers = [
            httpx.post(base + LOOKUP, content=body, headers={"Content-Type": "application/json"})
            for body in bodies[:20]
        ]
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200][:3]
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "lookup.lua"
            script.write_text(LUA % ",".join(json.dumps(b) for b in bodies))
            group = server.pid  # the server and its workers: a session of their own
            wrk(base + LOOKUP, 5, args.connections, script, group)  # warm-up: pools, caches, PostgreSQL's buffers
            bare = wrk(base + "/bare", args.seconds, args.connections, script, group)
            lookup = wrk(base + LOOKUP, args.seconds, args.connections, script, group)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    print(f"uvicorn workers {args.workers}, wrk -t2 -c{args.connections} -d{args.seconds}s, {args.people} people")
    for name, figures in (("bare endpoint", bare), ("resident look-up", lookup)):
        print(
            f"{name:<18} {figures['rps']:9.0f} req/s   p50 {figures['p50']:>8}   p90 {figures['p90']:>8}   "
            f"p99 {figures['p99']:>8}   non-2xx {figures['non_2xx']}   socket errors {figures['socket_errors']}"
        )
        cpu = figures["cpu_us"]
        parts = "   ".join(f"{who} {us:.0f}" for who, us in cpu.items())
        total = sum(cpu.values())
        print(f"{'':<18} CPU µs per request: {parts}   total {total:.0f} (two idle cores: ~{2e6 / total:,.0f} req/s)")
    ratio = lookup["rps"] / bare["rps"]
    print(f"look-up / bare throughput: {ratio:.2f}")
    met = lookup["rps"] >= 2000 and ms(lookup["p99"]) <= 50 and lookup["non_2xx"] == 0
    print(f"target (≥ 2,000 req/s, p99 ≤ 50 ms, every answer 200): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
