"""Staff sizing: a round cut to N hours, and workers called in so that it really finishes within N hours."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from scheduler.domain import RoundSettings, Scenario, ShortRound
from scheduler.ledger import read_scenario
from scheduler.ledger.hours import parse_hours
from scheduler.limits import SolverLimits
from scheduler.plan import solve_schedule
from scheduler.schedule import DOORSTEP, POINT, UNSERVED, Schedule
from scheduler.sizing import Sizing, size_staff
from scheduler.sizing.workers import hours_text
from scheduler.validate import validate
from store import versions
from store.ledger_import import import_scenario
from tests.ledgers import EXAMPLES
from tests.test_api import API, Solved, World, assert_problem, solved, world  # noqa: F401
from tests.test_staffing import few_samplers
from tests.test_workers import Workers, _job, _wait, cluster, pg, redis_url  # noqa: F401
from workers import actors, jobs
from workers import sizing as sizing_worker
from workers.broker import broker
from workers.relay import JOB, relay, send

SALT = b"test-salt"
REPO = Path(__file__).resolve().parent.parent
DEMO = EXAMPLES / "demo-community"
GONGSHU = EXAMPLES / "hangzhou-gongshu"  # 20,019 residents
HOURS = 8.0  # the demo round opens at 07:00: finish by 15:00
LIMITS = SolverLimits(seed=0, time_limit_s=10.0, processes=1)


@pytest.fixture(scope="module")
def demo() -> Scenario:
    return read_scenario(DEMO, salt=SALT)


@pytest.fixture(scope="module")
def short_staffed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo with two of its samplers left."""
    return few_samplers(tmp_path_factory.mktemp("few") / "few", keep=2)


@pytest.fixture(scope="module")
def sized(short_staffed: Path) -> Sizing:
    return size_staff(read_scenario(short_staffed, salt=SALT), HOURS, limits=LIMITS)


def cut(scenario: Scenario, hours: float) -> Scenario:
    return dataclasses.replace(scenario, settings=scenario.settings.within_hours(hours))


def served(schedule: Schedule) -> np.ndarray:
    return (schedule.mode == POINT) | (schedule.mode == DOORSTEP)


def test_round_hours_cut_the_slots_and_opening_hours(demo: Scenario) -> None:
    """A round of 6 h has 12 half-hour slots; a 24-hour point is open in all of them and no later."""
    st = demo.settings.within_hours(6)
    assert isinstance(st, ShortRound) and st.round_minutes == 360 and st.n_slots == 12
    assert parse_hours("24小时").slot_mask(st).tolist() == [True] * 12
    # 08:00–12:00 and 13:30–17:30 from a 07:00 start, cut at 13:00
    assert parse_hours("8:00-12:00;13:30-17:30").in_round(st.start, st.days, st.round_minutes) == [(60, 300)]
    assert demo.settings.within_hours(None) == demo.settings and demo.settings.round_minutes == 1440
    assert demo.settings.within_hours(30).round_minutes == 1440, "never longer than the round's days"
    assert dataclasses.replace(st, desk_rate_per_hour=60).round_minutes == 360, "replace keeps the cut"
    assert [f.name for f in dataclasses.fields(RoundSettings)][-1] == "order_keepers_per_desk"
    with pytest.raises(ValueError):
        demo.settings.within_hours(0)


def test_short_round_schedule_ends_within_it(demo: Scenario) -> None:
    """Solved in a 10-hour round, every visit, door route and duty ends by start + 10 h, and the validator agrees."""
    scenario = cut(demo, 10)
    schedule = solve_schedule(scenario, limits=LIMITS)
    end = 10 * 3600
    assert int(schedule.end[served(schedule)].max()) <= end
    assert int(schedule.routes.depart.max()) <= end and int(schedule.roster.end.max()) <= end
    assert (schedule.mode[served(schedule)] == DOORSTEP).any(), "sealed households are routed in the cut round"
    assert validate(scenario, schedule).ok


def test_validator_flags_a_visit_after_the_cut(demo: Scenario) -> None:
    """A whole-day schedule judged against a 6-hour round breaks rule 5 with visits 'outside the round'."""
    schedule = solve_schedule(demo, limits=LIMITS)
    assert validate(demo, schedule).ok
    late = served(schedule) & (schedule.end > 6 * 3600)
    assert late.any()
    report = validate(cut(demo, 6), schedule)
    assert not report.ok
    assert "outside the round" in report.text()


def test_availability_text_reads_back_as_the_duties(demo: Scenario) -> None:
    """A called-in worker's hours text, read by the ledger's parser, is exactly their duties (also past midnight)."""
    st = demo.settings  # opens 07:00, slots of 30 minutes
    assert hours_text(st, ((2, 10), (11, 15))) == "08:00-12:00;12:30-14:30"
    night = hours_text(st, ((28, 36),))  # 21:00–01:00
    assert night == "21:00-次日01:00"
    assert parse_hours(night).in_round(st.start, st.days) == [(840, 1080)]
    assert hours_text(st, ((26, 34),)) == "20:00-24:00"
    assert parse_hours("20:00-24:00").windows == ((1200, 1440),)


def test_sizing_fed_back_in_finishes_within_the_hours(short_staffed: Path, sized: Sizing) -> None:
    """With two samplers the 8-hour round leaves residents unserved; with the sized workers it serves everyone
    by 15:00, and the validator passes."""
    before = cut(read_scenario(short_staffed, salt=SALT), HOURS)
    lacking = solve_schedule(before, limits=LIMITS)
    assert any(u.reason in ("no_staff", "no_doorstep_team") for u in lacking.unserved)

    assert sized.added > 0 and len(sized.scenario.workers) == len(before.workers) + sized.added
    added_roles = {call.role for call in sized.calls}
    assert "sample" in added_roles, "samplers were the gap"
    schedule = solve_schedule(sized.scenario, limits=LIMITS)  # fed back in, solved afresh
    assert not schedule.unserved and served(schedule).all()
    assert int(schedule.end.max()) <= HOURS * 3600
    assert int(schedule.roster.end.max()) <= HOURS * 3600
    assert validate(sized.scenario, schedule).ok
    check = sized.verification()
    assert check["served"] == check["residents"] == len(before.residents) and check["valid"]
    assert check["last_visit_end"] <= check["round_end"] == "2022-04-12T15:00"


def test_sizing_names_the_staff_bottleneck(sized: Sizing) -> None:
    """Without a desk limit, the bottleneck lines name the community, the role and the hours the staff lack."""
    assert sized.desks.persons == 0 and sized.bottleneck_kind != "desks"
    assert any(line.startswith("community C0001 needs ") and "samplers" in line for line in sized.bottleneck)


def test_desk_bound_round_names_desks_at_points(short_staffed: Path) -> None:
    """In 3 hours the demo's 4 desks cannot sample everyone: the bottleneck is desks at P00001/P00002, and only
    `no_capacity` residents are left, however many staff are called in."""
    sizing = size_staff(read_scenario(short_staffed, salt=SALT), 3, limits=LIMITS)
    assert sizing.bottleneck_kind == "desks"
    assert sizing.bottleneck[0].startswith("desks at points ")
    assert "P00001" in sizing.bottleneck[0] and "P00002" in sizing.bottleneck[0]
    check = sizing.verification()
    assert set(check["unserved"]) == {"no_capacity"} and check["unserved"]["no_capacity"] == sizing.desks.persons
    assert check["valid"] and check["last_visit_end"] <= check["round_end"]


def test_enough_staff_calls_no_one(demo: Scenario) -> None:
    """The demo's own staff finish a whole-day round: nobody is called in and the bottleneck says so."""
    sizing = size_staff(demo, 24, limits=LIMITS)
    assert sizing.added == 0 and sizing.bottleneck_kind == "none"
    assert sizing.verification()["served"] == len(demo.residents)


def test_sizing_never_lengthens_a_round_cut_shorter(demo: Scenario) -> None:
    """Sizing a what-if round already cut to 6 h for 24 h sizes the 6-hour round."""
    cut = replace(demo, settings=demo.settings.within_hours(6))
    sizing = size_staff(cut, 24, limits=LIMITS)
    assert sizing.scenario.settings.round_minutes == 6 * 60
    assert (sizing.schedule.end[sizing.schedule.mode != UNSERVED] <= 6 * 3600).all()


def test_same_seed_same_answer(short_staffed: Path, sized: Sizing) -> None:
    """Sizing the same ledger with the same seed calls in the same workers and names the same bottleneck."""
    again = size_staff(read_scenario(short_staffed, salt=SALT), HOURS, limits=LIMITS)
    first, second = sized.figures(), again.figures()
    first.pop("seconds"), second.pop("seconds")
    assert first == second


def sched(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "scheduler", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


def test_cli_size_out_then_solve_finishes_within_the_hours(short_staffed: Path, tmp_path: Path) -> None:
    """`sched size --out` writes a ledger whose `sched solve --round-hours` schedule serves everyone by 15:00
    and passes `sched check`."""
    out, schedule = tmp_path / "sized", tmp_path / "schedule"
    run = sched("size", str(short_staffed), "--hours", "8", "--out", str(out), "--processes", "1")
    assert run.returncode == 0, run.stderr
    assert "workers to call in" in run.stdout and "bottleneck:" in run.stdout
    figures = json.loads((out / "sizing.json").read_text(encoding="utf-8"))
    with (out / "workers.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(read_scenario(short_staffed, salt=SALT).workers) + figures["added_workers"]
    run = sched("solve", str(out), "--round-hours", "8", "--out", str(schedule), "--processes", "1")
    assert run.returncode == 0, run.stderr
    kpis = json.loads((schedule / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["covered"] == kpis["residents"] and not kpis["unserved"]
    with (schedule / "assignments.csv").open(encoding="utf-8") as f:
        assert max(row["end"] for row in csv.DictReader(f)) <= "2022-04-12T15:00"
    run = sched("check", str(out), str(schedule), "--round-hours", "8")
    assert run.returncode == 0, run.stdout


# --- sizing as a job in the workers (API, embedded worker, relay, real worker processes) ------------------


@pytest.fixture(scope="module")
def demo_sized_3h(demo: Scenario) -> dict[str, Any]:
    """What `scheduler.sizing` answers for the demo in 3 hours, with the workers' limits (seconds left out)."""
    figures = size_staff(demo, 3, limits=replace(actors.LIMITS, seed=0, processes=1)).figures()
    figures.pop("seconds")
    return figures


@pytest.fixture
def in_process(db_engine: Engine) -> Iterator[None]:
    """The embedded worker on the in-memory broker, its actors bound to the test database."""
    broker.flush_all()
    jobs.start_embedded_worker(db_engine)
    yield
    jobs.stop_embedded_worker()


def poll(world: World, href: str, timeout: float = 180) -> dict[str, Any]:  # noqa: F811
    deadline = time.monotonic() + timeout
    while (status := world.client.get(href, headers=world.auth("planner")).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    body: dict[str, Any] = status
    return body


def test_api_sizing_is_a_job_answering_what_the_sizing_says(
    world: World,  # noqa: F811
    in_process: None,
    demo_sized_3h: dict[str, Any],
) -> None:
    """POST …/sizing?hours=3 answers 202 with a job; the worker stores on it exactly what `size_staff` answers for
    the demo (desk-bound); the job reads done through /jobs too, and a redelivered message does not size again."""
    path = f"/planner/scenarios/{world.demo}/sizing"
    accepted = world.post("planner", path, params={"hours": 3})
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert job["status"] == "queued" and accepted.headers["location"] == job["href"]
    assert job["href"] == f"{API}/planner/sizing/{job['job_id']}"
    done = poll(world, job["href"])
    assert done["status"] == "done" and done["error"] is None, done
    assert (done["scenario_id"], done["hours"], done["seed"]) == (world.demo, 3, 0)
    result = done["result"]
    assert result.pop("seconds") >= 0
    assert result == demo_sized_3h
    assert result["bottleneck_kind"] == "desks" and result["verification"]["round_end"] == "2022-04-12T10:00"
    listed = world.get("planner", f"/jobs/{job['job_id']}").json()
    assert (listed["kind"], listed["status"], listed["version_id"]) == ("sizing", "done", None)
    before = _job_row(world.engine, job["job_id"])
    assert sizing_worker.run_sizing_job(world.engine, job["job_id"], actors.LIMITS) == sizing_worker.STALE
    assert _job_row(world.engine, job["job_id"]) == before, "a redelivered message sizes nothing twice"
    assert versions.newest_published(world.engine, world.demo) == world.demo_version, "a sizing publishes nothing"


def _job_row(engine: Engine, job_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(JOB).where(JOB.c.id == job_id)).mappings().one())


def test_api_sizing_takes_any_size_and_refuses_bad_requests(world: World, salt: bytes) -> None:  # noqa: F811
    """A scenario above the old direct-answer size (Gongshu, 20,019 residents) gets its job; coordinators, bad hours,
    unknown scenarios and jobs that are not sizings get problems."""
    big = import_scenario(world.engine, read_scenario(GONGSHU, salt=salt), "gongshu")[0]
    accepted = world.post("admin", f"/planner/scenarios/{big}/sizing", params={"hours": 12, "seed": 3})
    assert accepted.status_code == 202, accepted.text
    queued = world.get("planner", accepted.json()["href"].removeprefix(API)).json()
    assert (queued["status"], queued["hours"], queued["seed"], queued["result"]) == ("queued", 12, 3, None)
    broker.flush_all()  # no worker runs here: the job stays queued
    path = f"/planner/scenarios/{world.demo}/sizing"
    assert_problem(world.post("demo", path, params={"hours": 3}), 403)
    for hours in (0.25, 0, -1, 24 * 31 + 1, "eight"):
        assert_problem(world.post("planner", path, params={"hours": hours}), 422)
    assert_problem(world.post("planner", path), 422)  # hours are required
    assert_problem(world.post("admin", f"/planner/scenarios/{big + 1000}/sizing", params={"hours": 8}), 404)
    solve = world.post("demo", f"/scenarios/{world.demo}/solve").json()
    broker.flush_all()
    assert_problem(world.get("planner", f"/planner/sizing/{solve['job_id']}"), 404)  # a solve, not a sizing
    assert_problem(world.get("planner", "/planner/sizing/999999"), 404)
    assert_problem(world.get("demo", accepted.json()["href"].removeprefix(API)), 403)


def test_a_sizing_job_sent_as_a_solve_by_the_relay_is_sized(
    db_engine: Engine,
    in_process: None,
    solved: dict[str, Solved],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sizing requested while the broker is down is sent by the relay as `schedule.solve`: the worker sizes it,
    stores the answer and publishes no version."""
    scenario_id = import_scenario(db_engine, solved["tiny"].scenario, "tiny")[0]
    monkeypatch.setattr(jobs, "send", lambda *_, **__: False)
    job_id = jobs.request_sizing(db_engine, scenario_id, hours=4)
    assert _job_row(db_engine, job_id)["enqueued_at"] is None
    assert relay(db_engine, older_than_s=0) == 1
    deadline = time.monotonic() + 120
    while (row := _job_row(db_engine, job_id))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, row
        time.sleep(0.1)
    assert row["status"] == "done" and row["kind"] == "sizing", row
    expected = size_staff(solved["tiny"].scenario, 4, limits=replace(actors.LIMITS, processes=1)).figures()
    assert {**row["result"], "seconds": 0} == {**expected, "seconds": 0}
    assert versions.newest_published(db_engine, scenario_id) is None


def test_a_worker_process_sizes_on_redis_and_postgresql(
    cluster: Callable[..., Workers],  # noqa: F811
    pg: Engine,  # noqa: F811
    solved: dict[str, Solved],  # noqa: F811
) -> None:
    """A real `sched worker` on Redis and PostgreSQL takes a requested sizing and stores its answer once."""
    scenario_id = import_scenario(pg, solved["tiny"].scenario, "tiny")[0]
    cluster()
    job_id = jobs.request_sizing(pg, scenario_id, hours=4)
    _wait(lambda: _job(pg, job_id).status in ("done", "failed") or None, 120, "the sizing job")
    row = _job_row(pg, job_id)
    assert row["status"] == "done" and row["result"]["verification"]["valid"], row
    send(sizing_worker.SIZE, job_id)  # redelivered: nothing changes
    time.sleep(2)
    assert _job_row(pg, job_id) == row
