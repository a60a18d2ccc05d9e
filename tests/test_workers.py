"""The workers: solves and zone-change re-solves published once, through the embedded worker and through
real `sched worker` processes on real Redis and PostgreSQL (SIGKILL, Redis stopped, bursts, stale messages).

Redis comes from TEST_REDIS_URL (skipped locally when unset, required under CI=true); the test of a
Redis outage starts its own redis-server on a spare port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dramatiq
import numpy as np
import pytest
import redis
import sqlalchemy as sa
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from scheduler import domain
from scheduler.ledger import read_scenario
from scheduler.schedule import DOORSTEP, UNSERVED, changed_visits
from scheduler.validate import validate
from store import versions
from store.ledger_import import import_scenario
from store.settings import Settings
from tests.ledgers import EXAMPLES, REPO
from workers import actors, jobs, solving
from workers.relay import APPLY_ZONE_CHANGES, JOB, ZONE_CHANGE, relay, send

DEMO = EXAMPLES / "demo-community"
WHEN = datetime(2022, 4, 12, 10)
SCHED = Path(sys.executable).with_name("sched")


@pytest.fixture(scope="module")
def demo(salt: bytes) -> domain.Scenario:
    return read_scenario(DEMO, salt=salt)


@pytest.fixture
def scenario_id(db_engine: Engine, demo: domain.Scenario) -> int:
    return import_scenario(db_engine, demo, "demo")[0]


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def _published(engine: Engine, scenario_id: int, other_than: int | None = None) -> Callable[[], int | None]:
    def newest() -> int | None:
        found = versions.newest_published(engine, scenario_id)
        return found if found != other_than else None

    return newest


def _rows(engine: Engine, query: sa.Select[Any]) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def _job(engine: Engine, job_id: int) -> Any:
    return _rows(engine, sa.select(JOB).where(JOB.c.id == job_id))[0]


def _zone_versions(engine: Engine, scenario_id: int) -> list[Any]:
    """Every version (draft or published) a zone-change re-solve stored."""
    return _rows(
        engine,
        sa.select(versions.VERSION).where(
            versions.VERSION.c.scenario_id == scenario_id, versions.VERSION.c.cause.like("zone change%")
        ),
    )


# --- embedded worker (in-memory broker), on SQLite and PostgreSQL -------------------------------


@pytest.fixture
def embedded(db_engine: Engine) -> Iterator[Engine]:
    """The in-process worker on the in-memory broker, its actors bound to the test database."""
    broker = dramatiq.get_broker()
    broker.flush_all()
    jobs.start_embedded_worker(db_engine)
    yield db_engine
    jobs.stop_embedded_worker()


def test_embedded_worker_solves_then_resolves_a_zone_change(embedded: Engine, scenario_id: int) -> None:
    """A requested solve and a zone change each publish one version; the change's version serves it at the door."""
    engine = embedded
    job_id = jobs.request_solve(engine, scenario_id)
    first = _wait(_published(engine, scenario_id), 60, "the first version")
    assert (_job(engine, job_id).status, _job(engine, job_id).version_id) == ("done", first)
    change = jobs.record_zone_change(
        engine, scenario_id, level="sealed", scope="compound", target_id="C0001-K01", effective_at=WHEN
    )
    second = _wait(_published(engine, scenario_id, first), 60, "the re-solved version")
    scenario = versions.load_scenario(engine, scenario_id)
    schedule = versions.load_schedule(engine, second, scenario)
    in_compound = scenario.buildings.compound[scenario.residents.building] == scenario.compounds.index("C0001-K01")
    assert (schedule.mode[in_compound] == DOORSTEP).all() and in_compound.any()
    assert validate(scenario, schedule).ok
    assert _rows(engine, sa.select(ZONE_CHANGE.c.applied_version_id).where(ZONE_CHANGE.c.id == change)) == [(second,)]


def test_database_errors_are_retried_with_backoff(
    embedded: Engine, scenario_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error while publishing is retried by dramatiq; the retry publishes the stored draft, no second one."""
    real_publish = versions.publish
    calls: list[int] = []

    def flaky(engine: Engine, version_id: int, **kwargs: Any) -> None:
        calls.append(version_id)
        if len(calls) == 1:
            raise sa.exc.OperationalError(
                "UPDATE schedule_version", {}, ConnectionError("server closed the connection")
            )
        real_publish(engine, version_id, **kwargs)

    monkeypatch.setattr(versions, "publish", flaky)
    job_id = jobs.request_solve(embedded, scenario_id)
    published = _wait(_published(embedded, scenario_id), 60, "the version after the retry")
    assert calls == [published, published]
    assert _job(embedded, job_id).status == "done"
    assert len(_rows(embedded, sa.select(versions.VERSION.c.id))) == 1


def test_an_invalid_schedule_is_never_published(
    embedded: Engine, scenario_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A solver answer that drops a resident silently fails its job with the rule named, and nothing is stored."""
    real_solve = solving.solve_schedule

    def dropping(scenario: domain.Scenario, **kwargs: Any) -> Any:
        schedule = real_solve(scenario, **kwargs)
        schedule.mode[0] = UNSERVED  # no unserved entry: rule 1 is broken
        return schedule

    monkeypatch.setattr(solving, "solve_schedule", dropping)
    job_id = jobs.request_solve(embedded, scenario_id)
    job = _wait(lambda: (row := _job(embedded, job_id)).status == "failed" and row, 60, "the job to fail")
    assert "InvalidSchedule" in job.error and "rule(s) 1" in job.error
    assert _rows(embedded, sa.select(versions.VERSION.c.id)) == []


def test_zone_change_input_is_checked(db_engine: Engine, scenario_id: int) -> None:
    """An unknown level, scope or target, or a time with an offset, is refused and nothing is written."""
    bad = [
        ("locked", "compound", "C0001-K01", "level 'locked'"),
        ("sealed", "street", "C0001-K01", "scope 'street'"),
        ("sealed", "compound", "C0001-K99", "no compound of scenario"),
        ("sealed", "building", "C0001-K01", "no building of scenario"),
    ]
    for level, scope, target, message in bad:
        with pytest.raises(jobs.ZoneChangeError, match=message):
            jobs.record_zone_change(
                db_engine, scenario_id, level=level, scope=scope, target_id=target, effective_at=WHEN
            )
    with pytest.raises(jobs.ZoneChangeError, match="offset"):
        jobs.record_zone_change(
            db_engine,
            scenario_id,
            level="sealed",
            scope="compound",
            target_id="C0001-K01",
            effective_at=datetime.fromisoformat("2022-04-12T10:00+08:00"),
        )
    with pytest.raises(jobs.UnknownScenario):
        jobs.request_solve(db_engine, scenario_id + 1000)
    assert _rows(db_engine, sa.select(ZONE_CHANGE.c.id)) == [] and _rows(db_engine, sa.select(JOB.c.id)) == []
    lifted = jobs.record_zone_change(
        db_engine, scenario_id, level="NORMAL", scope="Building", target_id="C0001-K01-B008", effective_at=WHEN
    )
    assert _rows(db_engine, sa.select(ZONE_CHANGE.c.level, ZONE_CHANGE.c.scope).where(ZONE_CHANGE.c.id == lifted)) == [
        ("normal", "building")
    ]


def test_stale_and_coalesced_messages_are_dropped(db_engine: Engine, scenario_id: int) -> None:
    """A finished job, a change with a newer pending one, or an applied change, solves nothing."""
    limits = actors.LIMITS
    job_id = jobs.request_solve(db_engine, scenario_id)
    assert solving.run_solve_job(db_engine, job_id, limits) == solving.DONE
    assert solving.run_solve_job(db_engine, job_id, limits) == solving.STALE
    first = jobs.record_zone_change(
        db_engine, scenario_id, level="sealed", scope="building", target_id="C0001-K02-B001", effective_at=WHEN
    )
    second = jobs.record_zone_change(
        db_engine, scenario_id, level="controlled", scope="compound", target_id="C0001-K02", effective_at=WHEN
    )
    assert solving.apply_zone_change(db_engine, first, limits) == solving.COALESCED
    assert solving.apply_zone_change(db_engine, second, limits) == solving.DONE
    version = versions.newest_published(db_engine, scenario_id)
    assert _rows(db_engine, sa.select(ZONE_CHANGE.c.applied_version_id)) == [(version,), (version,)]
    assert solving.apply_zone_change(db_engine, first, limits) == solving.STALE
    assert solving.apply_zone_change(db_engine, second, limits) == solving.STALE
    assert len(_rows(db_engine, sa.select(versions.VERSION.c.id))) == 2


def test_a_chain_of_changes_in_one_process_stores_what_a_fresh_solve_would(
    db_engine: Engine, scenario_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-solves from this process's kept scenario and version store the same versions as from the database."""
    limits = actors.LIMITS
    steps = [("sealed", "C0001-K01"), ("normal", "C0001-K01"), ("sealed", "C0001-K02")]
    assert solving.run_solve_job(db_engine, jobs.request_solve(db_engine, scenario_id), limits) == solving.DONE
    published = []
    for level, compound in steps:
        change = jobs.record_zone_change(
            db_engine, scenario_id, level=level, scope="compound", target_id=compound, effective_at=WHEN
        )
        assert solving.apply_zone_change(db_engine, change, limits) == solving.DONE
        published.append(versions.newest_published(db_engine, scenario_id))
    # The same steps again, each re-solve reading everything from the database (a fresh process each time).
    other = import_scenario(db_engine, read_scenario(DEMO, salt=b"other"), "other")[0]
    monkeypatch.setattr(solving, "_cache", _Fresh())
    assert solving.run_solve_job(db_engine, jobs.request_solve(db_engine, other), limits) == solving.DONE
    for (level, compound), kept in zip(steps, published, strict=True):
        change = jobs.record_zone_change(
            db_engine, other, level=level, scope="compound", target_id=compound, effective_at=WHEN
        )
        assert solving.apply_zone_change(db_engine, change, limits) == solving.DONE
        fresh = versions.newest_published(db_engine, other)
        assert fresh is not None and kept is not None
        assert _visits(db_engine, fresh) == _visits(db_engine, kept)
        assert [c.resident_id for c in versions.visit_diff(db_engine, fresh)] == [
            c.resident_id for c in versions.visit_diff(db_engine, kept)
        ]
    assert len({row[1] for row in _visits(db_engine, published[0])}) == 2  # doorstep and point visits


class _Fresh(versions.LoadCache):
    """A cache that keeps nothing: every load reads the database."""

    def remember(self, *args: Any) -> None:
        pass

    def load_scenario(self, engine: Engine, scenario_id: int, *, zone_changes_through: int | None = None) -> Any:
        return versions.load_scenario(engine, scenario_id, zone_changes_through=zone_changes_through)


def _visits(engine: Engine, version_id: int | None) -> list[Any]:
    v = versions.VISIT
    columns = [c for c in v.c if c.name != "version_id"]
    return _rows(engine, sa.select(*columns).where(v.c.version_id == version_id).order_by(v.c.resident_id))


def test_relay_sends_what_was_never_sent_or_may_be_lost(db_engine: Engine, scenario_id: int) -> None:
    """The relay sends pending rows never enqueued, or enqueued long ago; not fresh, applied or finished ones."""
    broker = dramatiq.get_broker()
    broker.flush_all()
    ids = [
        jobs.record_zone_change(
            db_engine, scenario_id, level="sealed", scope="building", target_id=b, effective_at=WHEN
        )
        for b in ("C0001-K01-B001", "C0001-K01-B002", "C0001-K01-B003")
    ]
    job_id = jobs.request_solve(db_engine, scenario_id)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    with db_engine.begin() as conn:
        conn.execute(
            ZONE_CHANGE.update().where(ZONE_CHANGE.c.id == ids[0]).values(enqueued_at=None, created_at=long_ago)
        )
        conn.execute(ZONE_CHANGE.update().where(ZONE_CHANGE.c.id == ids[1]).values(enqueued_at=long_ago))
        conn.execute(JOB.update().where(JOB.c.id == job_id).values(enqueued_at=None, created_at=long_ago))
    broker.flush_all()
    assert relay(db_engine) == 3
    queued = [(m.actor_name, m.args[0]) for name in broker.queues for m in _stub_messages(broker, name)]
    assert sorted(queued) == sorted([("zones.apply", ids[0]), ("zones.apply", ids[1]), ("schedule.solve", job_id)])
    assert relay(db_engine) == 0  # sent now: not again before RESEND_AFTER_S
    with db_engine.begin() as conn:
        conn.execute(ZONE_CHANGE.update().values(enqueued_at=None, created_at=long_ago, applied_version_id=None))
        conn.execute(JOB.update().values(enqueued_at=None, created_at=long_ago, status="done"))
        conn.execute(ZONE_CHANGE.delete().where(ZONE_CHANGE.c.id != ids[2]))
    assert relay(db_engine) == 1


def _stub_messages(broker: dramatiq.Broker, queue: str) -> list[dramatiq.Message[Any]]:
    return [dramatiq.Message.decode(data) for data in list(broker.queues[queue].queue)]


def test_solver_time_limit_sits_below_the_actors() -> None:
    """Each CP-SAT stage stops well before the actor is cut; settings that say otherwise are refused."""
    for actor in (actors.solve, actors.apply_zone_changes):
        assert actor.options["time_limit"] > 10 * actors.LIMITS.time_limit_s * 1000
    with pytest.raises(ValueError, match="SOLVER_TIME_LIMIT_S"):
        Settings(solver_time_limit_s=60, solve_time_limit_s=30)


# --- real worker processes on Redis and PostgreSQL -------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("TEST_REDIS_URL is not set: CI must test the workers on Redis")
        pytest.skip("TEST_REDIS_URL is not set")
    return url


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Engine:
    """The PostgreSQL test database (worker processes share it with the test), emptied after the test."""
    engine: Engine = request.getfixturevalue("postgres_engine")
    request.addfinalizer(lambda: _empty(engine))
    return engine


def _empty(engine: Engine) -> None:
    from sqlmodel import SQLModel

    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())


class Workers:
    """`sched worker` (one process, one thread) as a subprocess group; its log is kept for failures."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [str(SCHED), "worker"], env=env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        """SIGKILL every process of the group, as when the machine dies."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def cluster(pg: Engine, redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Workers]]:
    """Starts worker groups on Redis (a namespace of the test's own) and PostgreSQL; the test sends on that Redis."""
    namespace = f"sched-test-{uuid.uuid4().hex[:8]}"
    started: list[Workers] = []
    brokers: dict[str, RedisBroker] = {}  # the test sends on the Redis its workers consume
    previous = dramatiq.get_broker()

    def start(url: str = redis_url) -> Workers:
        if url not in brokers:
            brokers[url] = RedisBroker(url=url, namespace=namespace)
        dramatiq.set_broker(brokers[url])
        env = {
            **os.environ,
            "DATABASE_URL": pg.url.render_as_string(hide_password=False),
            "REDIS_URL": url,
            "REDIS_NAMESPACE": namespace,
            "WORKER_HEARTBEAT_TIMEOUT_MS": "3000",
            "REDIS_MAINTENANCE_CHANCE": "1000000",
        }
        started.append(Workers(env, tmp_path / f"workers-{len(started)}.log"))
        return started[-1]

    yield start
    for group in started:
        group.stop()
    dramatiq.set_broker(previous)
    for broker in brokers.values():
        try:
            for key in broker.client.scan_iter(f"{namespace}*"):
                broker.client.delete(key)
        except redis.ConnectionError:
            pass
        broker.close()
    for log in sorted(tmp_path.glob("workers-*.log")):
        print(log.name, log.read_text(errors="replace")[-3000:], sep="\n")


def test_zone_change_publishes_a_version_naming_the_changed_visits(
    cluster: Callable[..., Workers], pg: Engine, demo: domain.Scenario
) -> None:
    """Through a worker process: the change's version is the child of the published one, and its diff is exact."""
    scenario_id = import_scenario(pg, demo, "demo")[0]
    cluster()
    jobs.request_solve(pg, scenario_id)
    first = _wait(_published(pg, scenario_id), 90, "the first version")
    change = jobs.record_zone_change(
        pg, scenario_id, level="sealed", scope="compound", target_id="C0001-K01", effective_at=WHEN
    )
    second = _wait(_published(pg, scenario_id, first), 60, "the re-solved version")
    [row] = _rows(pg, sa.select(versions.VERSION).where(versions.VERSION.c.id == second))
    assert (row.parent_id, row.zone_change_through, row.cause) == (
        first,
        change,
        "zone change: compound C0001-K01 sealed",
    )
    scenario = versions.load_scenario(pg, scenario_id)
    old, new = versions.load_schedule(pg, first, scenario), versions.load_schedule(pg, second, scenario)
    expected = sorted(scenario.residents.ids[i] for i in changed_visits(old, new))
    diff = versions.visit_diff(pg, second)
    assert [c.resident_id for c in diff] == expected and row.changed_visits == len(expected)
    k01 = scenario.buildings.compound[scenario.residents.building] == scenario.compounds.index("C0001-K01")
    moved_to_door = {scenario.residents.ids[i] for i in np.flatnonzero(k01 & (old.mode != DOORSTEP))}
    assert moved_to_door and moved_to_door <= {c.resident_id for c in diff if c.new and c.new.mode == "doorstep"}
    assert validate(scenario, new).ok


def test_a_burst_of_changes_coalesces(cluster: Callable[..., Workers], pg: Engine, demo: domain.Scenario) -> None:
    """100 changes to one community within a second: at most 3 re-solves, the last reflects all; stale resends: none."""
    scenario_id = import_scenario(pg, demo, "demo")[0]
    cluster()
    jobs.request_solve(pg, scenario_id)
    first = _wait(_published(pg, scenario_id), 90, "the first version")
    rng = np.random.default_rng(7)
    changes = [
        (domain.LEVELS[int(rng.integers(0, 4))], demo.buildings.ids[int(rng.integers(0, len(demo.buildings)))])
        for _ in range(100)
    ]

    def record(change: tuple[str, str]) -> int:
        level, building = change
        return jobs.record_zone_change(
            pg, scenario_id, level=level, scope="building", target_id=building, effective_at=WHEN
        )

    began = time.monotonic()
    with ThreadPoolExecutor(4) as pool:  # several coordinators at once
        recorded = list(pool.map(record, changes))
    assert time.monotonic() - began < 1.0
    ids = sorted(recorded)
    pending = sa.select(ZONE_CHANGE.c.id).where(ZONE_CHANGE.c.applied_version_id.is_(None))
    _wait(lambda: not _rows(pg, pending), 90, "every change to be applied")
    stored = _zone_versions(pg, scenario_id)
    assert 1 <= len(stored) <= 3
    resolves = _rows(pg, sa.select(JOB.c.status).where(JOB.c.kind == "resolve"))
    assert len(resolves) == len(stored) and {s for (s,) in resolves} == {"done"}
    newest = versions.newest_published(pg, scenario_id)
    assert newest is not None and newest != first and max(v.zone_change_through for v in stored) == ids[-1]
    scenario = versions.load_scenario(pg, scenario_id)
    schedule = versions.load_schedule(pg, newest, scenario)
    assert validate(scenario, schedule).ok
    last_level = {building: level for _, (level, building) in sorted(zip(recorded, changes, strict=True))}
    sealed = [scenario.buildings.ids.index(b) for b, level in last_level.items() if level == "sealed"]
    assert sealed and (schedule.mode[np.isin(scenario.residents.building, sealed)] == DOORSTEP).all()
    assert [v.id for v in stored if v.zone_change_through == ids[-1]] == [newest]

    send(APPLY_ZONE_CHANGES, ids[0])  # a stale message: its change is long applied
    send(APPLY_ZONE_CHANGES, ids[-1])
    dramatiq.get_broker().join("default", timeout=30_000)
    assert len(_zone_versions(pg, scenario_id)) == len(stored)
    assert versions.newest_published(pg, scenario_id) == newest


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_a_worker_killed_mid_solve_loses_nothing(
    cluster: Callable[..., Workers], pg: Engine, demo: domain.Scenario
) -> None:
    """SIGKILL during a re-solve: the message is redelivered to another worker, and exactly one version results."""
    scenario_id = import_scenario(pg, demo, "demo")[0]
    doomed = cluster()
    jobs.request_solve(pg, scenario_id)
    first = _wait(_published(pg, scenario_id), 90, "the first version")
    change = jobs.record_zone_change(
        pg, scenario_id, level="sealed", scope="compound", target_id="C0001-K02", effective_at=WHEN
    )
    running = sa.select(JOB.c.id).where(JOB.c.kind == "resolve", JOB.c.status == "running")
    _wait(lambda: _rows(pg, running), 30, "the re-solve to start")
    assert _children(doomed.proc.pid)  # the dramatiq worker process is there to be killed
    doomed.kill()
    assert versions.newest_published(pg, scenario_id) == first, "the solve finished before the kill"
    cluster()
    second = _wait(_published(pg, scenario_id, first), 90, "the redelivered re-solve")
    assert [v.id for v in _zone_versions(pg, scenario_id)] == [second]
    assert _rows(pg, sa.select(ZONE_CHANGE.c.applied_version_id).where(ZONE_CHANGE.c.id == change)) == [(second,)]
    assert _rows(pg, sa.select(JOB.c.status).where(JOB.c.kind == "resolve")) == [("done",)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server of the test's own, to be stopped and started again on the same port."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port, self.folder = port, folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen([*args, "--dir", str(self.folder)], stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        _wait(lambda: _pings(client), 10, "redis-server to start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_change_made_while_redis_is_down_is_applied_when_it_returns(
    cluster: Callable[..., Workers], pg: Engine, demo: domain.Scenario, tmp_path: Path
) -> None:
    """Redis stopped: the change is stored, not enqueued; once Redis is back the relay sends it and it is applied."""
    server = RedisServer(_free_port(), tmp_path)
    server.start()
    try:
        scenario_id = import_scenario(pg, demo, "demo")[0]
        cluster(server.url)
        jobs.request_solve(pg, scenario_id)
        first = _wait(_published(pg, scenario_id), 90, "the first version")
        server.stop()
        change = jobs.record_zone_change(
            pg, scenario_id, level="sealed", scope="compound", target_id="C0001-K01", effective_at=WHEN
        )
        assert _rows(pg, sa.select(ZONE_CHANGE.c.enqueued_at).where(ZONE_CHANGE.c.id == change)) == [(None,)]
        time.sleep(1.0)
        assert versions.newest_published(pg, scenario_id) == first
        server.start()
        second = _wait(_published(pg, scenario_id, first), 60, "the change to be applied after Redis returned")
        [(enqueued, applied)] = _rows(
            pg, sa.select(ZONE_CHANGE.c.enqueued_at, ZONE_CHANGE.c.applied_version_id).where(ZONE_CHANGE.c.id == change)
        )
        assert enqueued is not None and applied == second
    finally:
        server.stop()
