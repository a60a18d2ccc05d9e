"""Staffing the points and the coupling with the assignment: every rule kept, shortfalls reported honestly."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from fixtures.generate import generate
from scheduler.assign.eligibility import reach
from scheduler.domain import NO_REF, SKILL_BIT, Scenario, slot_masks
from scheduler.kpis import point_slot_loads
from scheduler.ledger import read_scenario
from scheduler.plan import busy_slots, solve_schedule
from scheduler.schedule import POINT, ROLES, Roster, Schedule, write_schedule
from scheduler.staffing import staff_points
from scheduler.staffing.capacity import on_duty, staffed_capacity
from scheduler.staffing.pool import LEAD, ORDER, REGISTER, SAMPLE
from scheduler.validate import check_folder, validate
from tests.ledgers import EXAMPLES, write_ledger

SALT = b"test-salt"
DEMO = EXAMPLES / "demo-community"
ROSTER_FIELDS = ("worker", "point", "team", "role", "start", "end")


@pytest.fixture(scope="module")
def demo() -> Scenario:
    return read_scenario(DEMO, salt=SALT)


@pytest.fixture(scope="module")
def demo_schedule(demo: Scenario) -> Schedule:
    return solve_schedule(demo)


def few_samplers(folder: Path, keep: int) -> Path:
    """The demo ledger with only the first `keep` workers who can sample left able to sample."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in DEMO.iterdir():
        (folder / source.name).write_bytes(source.read_bytes())
    rows = list(csv.DictReader(io.StringIO((DEMO / "workers.csv").read_text(encoding="utf-8"))))
    samplers = 0
    kept = []
    for row in rows:
        if "sample" in row["skills"].split(";"):
            samplers += 1
            if samplers > keep:
                continue
        kept.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    (folder / "workers.csv").write_text(out.getvalue(), encoding="utf-8")
    return folder


def rows_of(roster: Roster, keep: np.ndarray) -> Roster:
    return Roster(*(getattr(roster, name)[keep] for name in ROSTER_FIELDS))


def point_duties(roster: Roster) -> set[tuple[int, ...]]:
    at_point = roster.point != NO_REF
    return set(zip(*(getattr(roster, name)[at_point].tolist() for name in ROSTER_FIELDS), strict=True))


@pytest.mark.parametrize("name", ["tiny", "demo-community", "hangzhou-gongshu", "community"])
def test_complete_schedule_keeps_every_rule(tmp_path: Path, name: str) -> None:
    """Assignments, door routes and the point roster of each fixture pass the validator, also from the files."""
    if name == "tiny":
        folder = write_ledger(tmp_path / "tiny")
    elif name == "community":
        folder = tmp_path / "community"
        generate("community", 5, folder)
    else:
        folder = EXAMPLES / name
    scenario = read_scenario(folder, salt=SALT)
    schedule = solve_schedule(scenario)
    assert schedule.has_roster and schedule.points_staffed
    report = validate(scenario, schedule)
    assert report.ok, report.text()
    write_schedule(scenario, schedule, tmp_path / "out")
    back = check_folder(scenario, tmp_path / "out")
    assert back.ok, back.text()
    assert schedule.kpis["covered"] + len(schedule.unserved) == len(scenario.residents)


def test_demo_is_fully_served_by_its_staff(demo: Scenario, demo_schedule: Schedule) -> None:
    """The demo community has staff enough: everyone is served, every point role is rostered."""
    assert demo_schedule.kpis["covered"] == len(demo.residents)
    point_rows = demo_schedule.roster.point != NO_REF
    assert {ROLES[r] for r in demo_schedule.roster.role[point_rows]} == {"sample", "register", "order", "lead"}
    assert demo_schedule.kpis["staff_shortfall"] == []


def test_point_duties_follow_skills_availability_and_community(demo: Scenario, demo_schedule: Schedule) -> None:
    """Each point duty is a role of the worker's skills, inside their availability and their community."""
    ro, st = demo_schedule.roster, demo.settings
    rows = np.flatnonzero(ro.point != NO_REF)
    slot_s = st.slot_minutes * 60
    available = slot_masks(demo.workers.available, st)
    point_community = demo.point_community()
    for i in rows.tolist():
        w, p = int(ro.worker[i]), int(ro.point[i])
        assert demo.workers.skills[w] & SKILL_BIT[ROLES[ro.role[i]]]
        assert ro.start[i] % slot_s == 0 and ro.end[i] % slot_s == 0
        assert available[w, ro.start[i] // slot_s : ro.end[i] // slot_s].all()
        assert demo.workers.community[w] in (NO_REF, point_community[p])
    for name in ("6", "7"):
        assert validate(demo, demo_schedule).result(name).status == "kept"


def test_every_slot_with_residents_is_staffed(demo: Scenario, demo_schedule: Schedule) -> None:
    """Residents come only where a lead, order keepers and enough staffed desks are on duty."""
    staff = on_duty(demo, demo_schedule.roster)
    load = point_slot_loads(demo, demo_schedule)
    used = load > 0
    assert (staff[LEAD][used] >= 1).all()
    assert (staff[ORDER][used] >= 1).all()
    assert (load <= staffed_capacity(demo, staff)).all()
    assert (np.minimum(staff[SAMPLE], staff[REGISTER])[used] >= 1).all()


def test_door_duties_are_not_double_booked(demo: Scenario, demo_schedule: Schedule) -> None:
    """No worker is at a point while on a door team (the pool is shared, one place at a time)."""
    ro = demo_schedule.roster
    team = ro.team != NO_REF
    at_door = busy_slots(demo, rows_of(ro, team))
    at_point = busy_slots(demo, rows_of(ro, ~team))
    assert team.any() and (~team).any()
    assert not (at_door & at_point).any()


def test_too_few_samplers_serve_what_staff_allow_and_report_the_shortfall(tmp_path: Path) -> None:
    """With two samplers the schedule keeps every rule, serves all the staffed desks hold, and names the gap."""
    scenario = read_scenario(few_samplers(tmp_path / "few", keep=2), salt=SALT)
    schedule = solve_schedule(scenario)
    report = validate(scenario, schedule)
    assert report.ok, report.text()
    no_staff = [u for u in schedule.unserved if u.reason == "no_staff"]
    assert no_staff, "two samplers cannot sample a community of this size"
    assert all("not enough staff" in u.detail for u in no_staff)
    short = schedule.kpis["staff_shortfall"]
    assert any(e["role"] == "sample" and e["community"] == "C0001" and e["workers"] >= 1 for e in short)
    assert any(e["text"].startswith("community C0001 needs ") and "samplers" in e["text"] for e in short)
    # As many as staff allow: no unserved household fits a staffed slot of a point it may use.
    staff = on_duty(scenario, schedule.roster)
    room = staffed_capacity(scenario, staff) - point_slot_loads(scenario, schedule)
    eligible = reach(scenario).eligible
    size = np.bincount(scenario.residents.household, minlength=len(scenario.households))
    for u in no_staff:
        h = scenario.residents.household[u.resident]
        b = scenario.residents.building[u.resident]
        points = eligible.point[eligible.of(b)]
        assert (room[points] < size[h]).all()


def test_shortfall_points_at_the_uncovered_hours(demo: Scenario) -> None:
    """A point open longer than anyone is available reports its uncovered hours as shortfall by role and time."""
    load = np.zeros((len(demo.points), demo.settings.n_slots), dtype=np.int64)
    load[:, :] = 10  # residents all round the clock, at every point
    result = staff_points(demo, load)
    assert result.shortfall
    texts = [s.text(demo) for s in result.shortfall]
    assert all(t.startswith("community C0001 needs ") for t in texts)
    # Nobody in the demo is available at 03:00 (slot 40 from 07:00), so every role is short there.
    short_roles = {s.role for s in result.shortfall if s.first <= 40 < s.stop}
    assert short_roles == {"sample", "register", "order", "lead"}


def test_same_input_and_seed_same_roster(demo: Scenario, demo_schedule: Schedule) -> None:
    """Solving twice gives the same roster row for row."""
    again = solve_schedule(demo)
    for name in ("worker", "point", "team", "role", "start", "end"):
        assert np.array_equal(getattr(again.roster, name), getattr(demo_schedule.roster, name))


def test_resolve_keeps_the_published_roster(demo: Scenario, demo_schedule: Schedule) -> None:
    """Re-solving the unchanged scenario against its own schedule keeps every point duty and visit."""
    again = solve_schedule(demo, previous=demo_schedule)
    assert validate(demo, again).ok, validate(demo, again).text()
    assert again.kpis["staffing"]["objective"].get("changed_duty_slots", 0) == 0
    assert point_duties(again.roster) == point_duties(demo_schedule.roster)
    assert again.kpis["objective"]["changed_visits"] == 0


def test_hours_balance_and_coverage_are_reported(demo_schedule: Schedule) -> None:
    """kpis.json carries the requirement coverage per role and the hours per kind of worker."""
    staffing = demo_schedule.kpis["staffing"]
    assert set(staffing["requirement_coverage"]) == {"sample", "register", "order", "lead"}
    for figures in staffing["hours_by_kind"].values():
        assert figures["min_hours"] <= figures["mean_hours"] <= figures["max_hours"]
    assert (demo_schedule.mode == POINT).any()


def test_resolve_drops_published_duties_that_a_new_door_duty_pushes_past_the_day(
    demo: Scenario, demo_schedule: Schedule
) -> None:
    """A re-solve keeps max_day_hours when a worker's published day is full and a door duty is added."""
    st = demo.settings
    slot_s = st.slot_minutes * 60
    ro = demo_schedule.roster
    first_day = np.arange(st.n_slots) < (24 * 60 - st.start_minute_of_day) // st.slot_minutes
    day_end = int(first_day.sum()) * slot_s
    on_day = (ro.point != NO_REF) & (ro.end <= day_end)
    hours = np.bincount(ro.worker[on_day], weights=(ro.end - ro.start)[on_day] / 3600, minlength=len(demo.workers))
    available = slot_masks(demo.workers.available, st)
    on_duty = busy_slots(demo, ro)
    # A worker with a full first day who is still free (and a break away from duty) for one more hour.
    near = on_duty.copy()
    near[:, 1:] |= on_duty[:, :-1]
    near[:, :-1] |= on_duty[:, 1:]
    free = available & ~near & first_day
    candidates = [w for w in np.flatnonzero(hours >= 7.5).tolist() if free[w].sum() >= 2]
    assert candidates, "the demo has a worker with a full day and a free hour"
    w = candidates[0]
    first = int(np.flatnonzero(free[w])[0])
    busy = np.zeros((len(demo.workers), st.n_slots), dtype=bool)
    busy[w, first : first + 2] = True
    result = staff_points(demo, point_slot_loads(demo, demo_schedule), busy=busy, previous=ro)
    mine = (result.roster.worker == w) & (result.roster.end <= day_end)
    day_minutes = (result.roster.end - result.roster.start)[mine].sum() / 60
    assert day_minutes + 2 * st.slot_minutes <= st.max_day_hours * 60
