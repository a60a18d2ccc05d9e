"""The fan-out of a large solve: the pure partition and merge (`scheduler.partition`), and the parts and
their join through the embedded worker and through real `sched worker` processes on Redis and PostgreSQL;
a fanned-out what-if fork starts from its parent's schedule.

The threshold FANOUT_MIN_RESIDENTS is lowered so that small ledgers fan out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from fixtures.generate import generate
from scheduler import domain
from scheduler.domain import NO_REF
from scheduler.ledger import read_scenario
from scheduler.limits import SolverLimits
from scheduler.partition import merge, partition, solve_part, solve_partitioned
from scheduler.validate import validate
from scheduler.whatif import ClosePoint
from store import versions, whatif
from store.ledger_import import import_scenario
from store.settings import get_settings
from tests.ledgers import EXAMPLES
from tests.test_whatif import visits_by_id
from tests.test_workers import Workers, _children, _job, _published, _rows, _wait, cluster, pg, redis_url  # noqa: F401
from workers import fanout, jobs
from workers.relay import JOB

LIMITS = SolverLimits(time_limit_s=5)
GONGSHU = EXAMPLES / "hangzhou-gongshu"  # 20,000 residents in 15 communities


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory, salt: bytes) -> domain.Scenario:
    """A generated street (about 60,000 residents in 8 communities, several zones)."""
    folder = tmp_path_factory.mktemp("street")
    generate("street", 3, folder)
    return read_scenario(folder, salt=salt)


@pytest.fixture(scope="module")
def gongshu(salt: bytes) -> domain.Scenario:
    return read_scenario(GONGSHU, salt=salt)


def test_partition_puts_everyone_and_everything_in_exactly_one_part(street: domain.Scenario) -> None:
    """Every community, point and worker gets one part; each part a community; community rows follow their community."""
    cut = partition(street, 3)
    assert cut.parts == 3
    assert set(cut.community.tolist()) == {0, 1, 2}
    for table in (cut.community, cut.point, cut.worker):
        assert ((table >= 0) & (table < 3)).all()
    point_community = street.point_community()
    own = point_community != NO_REF
    assert (cut.point[own] == cut.community[point_community[own]]).all()
    with_community = street.workers.community != NO_REF
    assert (cut.worker[with_community] == cut.community[street.workers.community[with_community]]).all()
    residents = np.stack([cut.residents(street, k) for k in range(3)])
    assert (residents.sum(axis=0) == 1).all()
    # Similar sizes: no part above twice the mean.
    assert residents.sum(axis=1).max() <= 2 * len(street.residents) / 3
    assert partition(street, 3).worker.tolist() == cut.worker.tolist()  # same input, same cut
    assert partition(street, 50).parts == len(street.communities)


def test_merged_parts_make_a_valid_schedule_of_the_whole(street: domain.Scenario) -> None:
    """The parts' schedules merge into one that keeps every rule; each resident is served from their own part."""
    cut = partition(street, 3)
    solved = [solve_part(street, cut, k, limits=LIMITS) for k in range(3)]
    assert sum(len(s.mode) for s in solved) == len(street.residents)
    schedule = merge(street, cut, solved, solve_seconds=1.0)
    report = validate(street, schedule)
    assert report.ok, report.text()
    at_point = schedule.mode == 1
    resident_part = cut.community[street.buildings.community[street.residents.building]]
    assert (cut.point[schedule.point[at_point]] == resident_part[at_point]).all()
    assert len(set(schedule.teams)) == len(schedule.teams) > 0
    assert schedule.kpis["covered"] + len({u.resident for u in schedule.unserved}) == len(street.residents)
    assert schedule.kpis["covered"] >= 0.99 * len(street.residents)
    assert schedule.kpis["walk_m_lower_bound"] <= schedule.kpis["walk_m_total"]
    # Re-solving from it (a later whole solve of a fanned-out scenario) keeps it valid and nearly unchanged.
    again = solve_partitioned(street, 3, previous=schedule, limits=LIMITS)
    assert validate(street, again).ok
    assert again.kpis["objective"]["changed_visits"] <= 0.05 * len(street.residents)


def test_a_part_schedule_survives_its_bytes(gongshu: domain.Scenario) -> None:
    """`pack` then `unpack` gives back the same arrays, teams, unserved list and KPIs."""
    cut = partition(gongshu, 2)
    schedule = solve_part(gongshu, cut, 1, limits=LIMITS)
    back = fanout.unpack(fanout.pack(schedule))
    for name in ("mode", "point", "team", "start", "end"):
        assert np.array_equal(getattr(back, name), getattr(schedule, name))
    for a, b in ((back.roster, schedule.roster), (back.routes, schedule.routes)):
        for x, y in zip(vars(a).values(), vars(b).values(), strict=True):
            assert np.array_equal(x, y) and x.dtype == y.dtype
    assert (back.teams, back.unserved) == (schedule.teams, schedule.unserved)
    assert back.kpis == schedule.kpis


@pytest.fixture
def fan_out_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scenarios of 5,000 residents or more fan out, in parts of about 12,000 (here and in started workers)."""
    monkeypatch.setattr(get_settings(), "fanout_min_residents", 5000)
    monkeypatch.setattr(get_settings(), "fanout_part_residents", 12_000)
    monkeypatch.setenv("FANOUT_MIN_RESIDENTS", "5000")
    monkeypatch.setenv("FANOUT_PART_RESIDENTS", "12000")


PARTS = fanout.SOLVE_PART_TABLE


def _versions(engine: Engine, scenario_id: int) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(versions.VERSION.c.id, versions.VERSION.c.status).where(
                    versions.VERSION.c.scenario_id == scenario_id
                )
            ).all()
        )


def _kpis(engine: Engine, version: int) -> dict[str, Any]:
    with engine.connect() as conn:
        kpis: dict[str, Any] = conn.execute(
            sa.select(versions.VERSION.c.kpis).where(versions.VERSION.c.id == version)
        ).scalar_one()
    return kpis


@pytest.fixture
def embedded(db_engine: Engine) -> Iterator[Engine]:
    dramatiq.get_broker().flush_all()
    jobs.start_embedded_worker(db_engine)
    yield db_engine
    jobs.stop_embedded_worker()


def test_embedded_worker_fans_out_and_publishes_once(
    fan_out_small: None, embedded: Engine, gongshu: domain.Scenario
) -> None:
    """On the in-memory broker: a solve of 2 parts publishes one valid version; parts run again publish nothing more."""
    engine = embedded
    scenario_id = import_scenario(engine, gongshu, "gongshu")[0]
    job_id = jobs.request_solve(engine, scenario_id)
    version = _wait(_published(engine, scenario_id), 300, "the fanned-out version")
    assert (_job(engine, job_id).status, _job(engine, job_id).version_id) == ("done", version)
    scenario = versions.load_scenario(engine, scenario_id)
    schedule = versions.load_schedule(engine, version, scenario)
    assert validate(scenario, schedule).ok
    assert len(versions.load_schedule(engine, version, scenario).mode) == len(gongshu.residents)
    assert len(_kpis(engine, version)["parts"]) == 2
    # The job is done: its parts' rows are gone, and any redelivered message does nothing.
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(PARTS)).scalar_one() == 0
    assert fanout.run_join(engine, job_id, LIMITS) == fanout.STALE
    assert fanout.fan_out_job(engine, job_id) is None
    assert _versions(engine, scenario_id) == [(version, "published")]


def test_the_last_part_alone_sends_the_join_and_a_rerun_part_publishes_nothing_twice(
    fan_out_small: None, db_engine: Engine, gongshu: domain.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By hand: only the part completing the set sends the join; parts and joins run twice publish one version."""
    engine = db_engine
    scenario_id = import_scenario(engine, gongshu, "gongshu")[0]
    sent: list[tuple[str, int]] = []

    def record(actor: str, row_id: int, **_: Any) -> bool:
        sent.append((actor, row_id))
        return True

    monkeypatch.setattr(fanout, "send", record)
    monkeypatch.setattr(jobs, "send", lambda actor, row_id, **_: True)
    job_id = jobs.request_solve(engine, scenario_id)
    assert fanout.fan_out_job(engine, job_id) == fanout.FANNED
    with engine.connect() as conn:
        part_ids = conn.scalars(sa.select(PARTS.c.id).where(PARTS.c.job_id == job_id).order_by(PARTS.c.part)).all()
    assert sent == [(fanout.SOLVE_PART, p) for p in part_ids] and len(part_ids) == 2
    assert fanout.fan_out_job(engine, job_id) == fanout.FANNED  # redelivered: the same rows, sent again
    with engine.connect() as conn:
        assert conn.scalars(sa.select(PARTS.c.id).where(PARTS.c.job_id == job_id)).all() == part_ids
    sent.clear()
    assert fanout.run_part(engine, part_ids[0], LIMITS) == fanout.DONE
    assert sent == []  # one part left: no join yet
    assert fanout.run_join(engine, job_id, LIMITS) == fanout.STALE  # an early join does nothing
    assert fanout.run_part(engine, part_ids[1], LIMITS) == fanout.DONE
    assert sent == [(fanout.JOIN, job_id)]
    assert fanout.run_part(engine, part_ids[1], LIMITS) == fanout.DONE  # redelivered: not solved again, join resent
    assert fanout.run_join(engine, job_id, LIMITS) == fanout.DONE
    assert fanout.run_join(engine, job_id, LIMITS) == fanout.STALE
    assert fanout.run_part(engine, part_ids[0], LIMITS) == fanout.STALE
    [(version, status)] = _versions(engine, scenario_id)
    assert status == "published" and _job(engine, job_id).version_id == version
    with engine.connect() as conn:
        assert conn.execute(sa.select(JOB.c.status).where(JOB.c.id == job_id)).scalar_one() == "done"


def test_a_join_killed_after_publishing_is_finished_not_solved_again(
    fan_out_small: None, db_engine: Engine, gongshu: domain.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A join that dies between publishing and marking its job done is redelivered: it marks the job done with
    the version it published, and neither fans out again nor publishes a second version."""
    engine = db_engine
    scenario_id = import_scenario(engine, gongshu, "gongshu")[0]
    monkeypatch.setattr(fanout, "send", lambda actor, row_id, **_: True)
    monkeypatch.setattr(jobs, "send", lambda actor, row_id, **_: True)
    job_id = jobs.request_solve(engine, scenario_id)
    assert fanout.fan_out_job(engine, job_id) == fanout.FANNED
    with engine.connect() as conn:
        for part_id in conn.scalars(sa.select(PARTS.c.id).where(PARTS.c.job_id == job_id)).all():
            assert fanout.run_part(engine, part_id, LIMITS) == fanout.DONE

    def killed(*_: Any, **__: Any) -> None:
        raise RuntimeError("SIGKILL")

    with monkeypatch.context() as dying:
        dying.setattr(fanout, "set_job", killed)
        with pytest.raises(RuntimeError, match="SIGKILL"):
            fanout.run_join(engine, job_id, LIMITS)
    [(version, status)] = _versions(engine, scenario_id)
    assert status == "published" and _job(engine, job_id).status == "running"
    assert fanout.run_join(engine, job_id, LIMITS) == fanout.DONE
    assert _versions(engine, scenario_id) == [(version, "published")]
    assert (_job(engine, job_id).status, _job(engine, job_id).version_id) == ("done", version)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(PARTS)).scalar_one() == 0


def test_worker_processes_fan_out_and_publish_exactly_one_valid_version(
    fan_out_small: None,
    cluster: Callable[..., Workers],  # noqa: F811  (the fixture of tests/test_workers.py)
    pg: Engine,  # noqa: F811
    gongshu: domain.Scenario,
) -> None:
    """Two real worker processes join the parts into one valid version; messages sent again publish nothing."""
    scenario_id = import_scenario(pg, gongshu, "gongshu")[0]
    cluster()
    cluster()
    job_id = jobs.request_solve(pg, scenario_id)
    version = _wait(_published(pg, scenario_id), 600, "the fanned-out version")
    assert _wait(lambda: _job(pg, job_id).status == "done" or None, 30, "the job done")
    scenario = versions.load_scenario(pg, scenario_id)
    report = validate(scenario, versions.load_schedule(pg, version, scenario))
    assert report.ok, report.text()
    assert len(_kpis(pg, version)["parts"]) == 2
    fanout.send(fanout.SOLVE_PART, 1)
    fanout.send(fanout.JOIN, job_id)
    jobs.send(jobs.SOLVE, job_id)
    time.sleep(3)
    assert _versions(pg, scenario_id) == [(version, "published")]


def test_a_worker_killed_mid_part_loses_nothing(
    fan_out_small: None,
    cluster: Callable[..., Workers],  # noqa: F811
    pg: Engine,  # noqa: F811
    gongshu: domain.Scenario,
) -> None:
    """SIGKILL while the parts are being solved: the part in hand is redelivered, and the join publishes once."""
    scenario_id = import_scenario(pg, gongshu, "gongshu")[0]
    doomed = cluster()
    job_id = jobs.request_solve(pg, scenario_id)
    with_parts = sa.select(PARTS.c.id).where(PARTS.c.job_id == job_id)
    _wait(lambda: _rows(pg, with_parts), 60, "the fan-out")  # the worker now takes the first part
    assert _children(doomed.proc.pid)  # the dramatiq worker process is there to be killed
    doomed.kill()
    unsolved = sa.select(PARTS.c.id).where(PARTS.c.job_id == job_id, PARTS.c.payload.is_(None))
    assert _rows(pg, unsolved), "every part was solved before the kill"
    cluster()
    version = _wait(_published(pg, scenario_id), 600, "the joined version after the kill")
    assert _versions(pg, scenario_id) == [(version, "published")]
    assert _job(pg, job_id).status == "done"


def test_a_fanned_out_fork_keeps_its_parents_visits(
    fan_out_small: None, db_engine: Engine, gongshu: domain.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A what-if fork without a version of its own, fanned out into parts, starts from its parent's published
    schedule: closing one point moves its residents, and the others keep their visits (at most 1% change; from
    scratch, about 3% did)."""
    engine = db_engine
    parent = import_scenario(engine, gongshu, "gongshu")[0]
    version = versions.save_draft(
        engine,
        parent,
        solve_partitioned(gongshu, 2, limits=LIMITS),
        cause="initial solve",
        parent_id=None,
        seed=0,
        scenario=gongshu,
    )
    versions.publish(engine, version)
    closed = "P17201"  # 1,240 residents in the parent's schedule
    child = whatif.fork(engine, parent, f"{closed} closed", [ClosePoint(closed)])
    monkeypatch.setattr(fanout, "send", lambda *_, **__: True)
    monkeypatch.setattr(jobs, "send", lambda *_, **__: True)
    job_id = jobs.request_solve(engine, child, cause="what-if")
    assert fanout.fan_out_job(engine, job_id) == fanout.FANNED
    with engine.connect() as conn:
        part_ids = conn.scalars(sa.select(PARTS.c.id).where(PARTS.c.job_id == job_id)).all()
    assert len(part_ids) == 2
    assert [fanout.run_part(engine, part_id, LIMITS) for part_id in part_ids] == [fanout.DONE] * 2
    assert fanout.run_join(engine, job_id, LIMITS) == fanout.DONE
    parent_scenario, child_scenario = versions.load_scenario(engine, parent), versions.load_scenario(engine, child)
    child_version = versions.newest_published(engine, child)
    assert child_version is not None and len(_kpis(engine, child_version)["parts"]) == 2
    before = visits_by_id(parent_scenario, versions.load_schedule(engine, version, parent_scenario))
    after = visits_by_id(child_scenario, versions.load_schedule(engine, child_version, child_scenario))
    at_closed = np.array([visit[1] == closed for visit in before], dtype=bool)
    same = np.array([a == b for a, b in zip(before, after, strict=True)], dtype=bool)
    changed, others = int((~same[~at_closed]).sum()), int((~at_closed).sum())
    assert at_closed.any() and not same[at_closed].any()
    assert changed <= others // 100, f"{changed} of {others} residents of other points changed their visit"


def test_no_more_parts_than_communities(db_engine: Engine, salt: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts are whole communities: the demo (3,000 residents, one community) above a threshold of 1,000 is solved
    in one piece, not fanned out into parts whose join could not merge them."""
    monkeypatch.setattr(get_settings(), "fanout_min_residents", 1000)
    monkeypatch.setattr(get_settings(), "fanout_part_residents", 1500)
    monkeypatch.setattr(jobs, "send", lambda *_, **__: True)
    demo = read_scenario(EXAMPLES / "demo-community", salt=salt)
    assert len(demo.communities) == 1 and fanout.parts_for(len(demo.residents)) == 2
    job_id = jobs.request_solve(db_engine, import_scenario(db_engine, demo, "demo")[0])
    assert fanout.fan_out_job(db_engine, job_id) is None
    with db_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(PARTS)).scalar_one() == 0
