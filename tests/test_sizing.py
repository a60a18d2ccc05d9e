"""Staff sizing: a round cut to N hours, and workers called in so that it really finishes within N hours."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import api.routes.sizing as sizing_route
from scheduler.domain import RoundSettings, Scenario, ShortRound
from scheduler.ledger import read_scenario
from scheduler.ledger.hours import parse_hours
from scheduler.limits import SolverLimits
from scheduler.plan import solve_schedule
from scheduler.schedule import DOORSTEP, POINT, Schedule
from scheduler.sizing import Sizing, size_staff
from scheduler.sizing.workers import hours_text
from scheduler.validate import validate
from tests.ledgers import EXAMPLES
from tests.test_api import World, assert_problem, solved, world  # noqa: F401
from tests.test_staffing import few_samplers

SALT = b"test-salt"
REPO = Path(__file__).resolve().parent.parent
DEMO = EXAMPLES / "demo-community"
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


def test_api_sizing_answers_planners_directly(world: World, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A planner's POST …/sizing?hours=N on the demo answers the calls, the bottleneck and a valid verification;
    a coordinator is refused, hours below 1 are a 422 problem, an unknown scenario a 404, and a scenario above
    the direct-answer size a 422 that is refused before any solving."""
    path = f"/planner/scenarios/{world.demo}/sizing"
    response = world.post("planner", path, params={"hours": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bottleneck_kind"] == "desks" and body["bottleneck"][0].startswith("desks at points ")
    assert body["verification"]["valid"] and set(body["verification"]["unserved"]) == {"no_capacity"}
    assert body["verification"]["round_end"] == "2022-04-12T10:00"
    assert_problem(world.post("demo", path, params={"hours": 3}), 403)
    assert_problem(world.post("planner", path, params={"hours": 0.25}), 422)
    assert_problem(world.post("planner", path, params={"hours": 0}), 422)
    assert_problem(world.post("admin", f"/planner/scenarios/{world.demo + 1000}/sizing", params={"hours": 8}), 404)
    monkeypatch.setattr(sizing_route, "DIRECT_MAX_RESIDENTS", 1000)
    body = assert_problem(world.post("planner", path, params={"hours": 3}), 422)
    assert "sched size" in body["detail"]
