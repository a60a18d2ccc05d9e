"""Doorstep teams and routes: valid on the examples, team composition, route timing, duties, priorities.

The hand-made ledger DOOR (written through `tests.ledgers.write_ledger`, so read by the real reader):

- community C1: compound K1 with B1 (sealed, 24 households) and B3 (3 households, one with a
  bedridden member), compound K2 (controlled, no in-compound point) with B2 (20 households);
  community C2: compound K3 with B4 (sealed, 10 households), about 1.3 km away.
- points: P1 of community C1 and P2 of community C2, open 07:00-19:00.
- settings: 20-minute slots, shifts of at most 2 h, breaks of 60 min, 3 h a day.
- workers (by default): W1 doorstep+sample of C1 07:00-19:00, W2 doorstep+sample of C1
  08:00-12:00, W3 a doorstep helper (doorstep+register) of C1, W4 doorstep+sample without a
  community round the clock, W5 sample+register of C1 (no doorstep).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from scheduler.assign.demand import AT_POINT
from scheduler.assign.eligibility import reach
from scheduler.assign.solve import solve_assignment
from scheduler.domain import NO_REF, SKILL_BIT, Scenario
from scheduler.doorstep import DoorstepPlan, apply_doorstep, nearest_neighbour, plan_doorstep
from scheduler.doorstep.plan import SEALED, household_reasons, tier_of
from scheduler.geo import haversine_m
from scheduler.ledger import read_scenario
from scheduler.limits import SolverLimits
from scheduler.schedule import DOORSTEP, POINT, ROLES, UNSERVED, Roster, Schedule
from scheduler.validate import KEPT, validate
from tests.ledgers import EXAMPLES, write_ledger

SALT = b"test-salt"
LIMITS = SolverLimits(time_limit_s=10.0)
DOOR_AND_SAMPLE = SKILL_BIT["doorstep"] | SKILL_BIT["sample"]
RULES = ("1", "2", "3", "4", "5", "7", "8")  # rule 6 would ask for point staff, which is not planned here

SETTINGS = (
    'name = "door"\nstart = 2022-03-14T07:00:00\nslot_minutes = 20\nmax_shift_hours = 2\n'
    "min_break_minutes = 60\nmax_day_hours = 3\n"
)
WORKERS = (
    "worker_id,name,kind,skills,community_id,available\n"
    "W1,,medical,sample;doorstep,C1,07:00-19:00\n"
    "W2,,medical,sample;doorstep,C1,08:00-12:00\n"
    "W3,,community,doorstep;register,C1,07:00-19:00\n"
    "W4,,medical,sample;doorstep,,24小时\n"
    "W5,,medical,sample;register,C1,07:00-19:00\n"
)
BUILDINGS = (
    "building_id,community_id,compound_id,lat,lon,floors\n"
    "B1,C1,K1,34.2600,108.9400,6\n"
    "B2,C1,K2,34.2610,108.9412,6\n"
    "B3,C1,K1,34.2604,108.9394,6\n"
    "B4,C2,K3,34.2700,108.9500,6\n"
)
POINTS = (
    "point_id,name,community_id,compound_id,lat,lon,desks,hours,accessible\n"
    "P1,,C1,,34.2602,108.9398,2,07:00-19:00,true\n"
    "P2,,C2,,34.2702,108.9502,1,07:00-19:00,true\n"
)
ZONES = "level,scope,target_id\nsealed,building,B1\ncontrolled,compound,K2\nsealed,building,B4\n"


def residents_csv() -> str:
    rows = ["resident_id,household_id,building_id,birth_year,flags,id_number,phone"]
    n = 0
    for building, count in (("B1", 24), ("B2", 20), ("B3", 3), ("B4", 10)):
        for k in range(count):
            n += 1
            flags = "bedridden" if building == "B3" and k == 0 else ""
            rows.append(f"R{n:03d},H{n:03d},{building},1950,{flags},,")
            if k % 3 == 0:  # some households of two
                rows.append(f"R{n:03d}b,H{n:03d},{building},1980,,,")
    return "\n".join(rows) + "\n"


def door_ledger(folder: Path, workers: str = WORKERS, settings: str = SETTINGS) -> Scenario:
    """The DOOR ledger, with its workers (and settings) replaced when given."""
    write_ledger(
        folder,
        {
            "scenario.toml": settings,
            "buildings.csv": BUILDINGS,
            "residents.csv": residents_csv(),
            "points.csv": POINTS,
            "workers.csv": workers,
            "zones.csv": ZONES,
        },
    )
    return read_scenario(folder, salt=SALT)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def door_households(scenario: Scenario) -> np.ndarray:
    return np.flatnonzero(reach(scenario).demand.doorstep != AT_POINT)


def planned(scenario: Scenario, **kwargs: object) -> tuple[np.ndarray, DoorstepPlan]:
    households = door_households(scenario)
    return households, plan_doorstep(scenario, households, limits=LIMITS, **kwargs)  # type: ignore[arg-type]


def with_plan(scenario: Scenario, plan: DoorstepPlan) -> Schedule:
    """The lead's assignment with its door visits replaced by the plan, roster checked."""
    schedule = solve_assignment(scenario)
    apply_doorstep(scenario, schedule, plan)
    schedule.has_roster = True
    return schedule


def assert_rules_kept(scenario: Scenario, schedule: Schedule) -> None:
    report = validate(scenario, schedule)
    for rule in RULES:
        assert report.result(rule).status == KEPT, report.result(rule).line()


def walk_s(scenario: Scenario, b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    bl, st = scenario.buildings, scenario.settings
    metres = haversine_m(bl.lat[b0], bl.lon[b0], bl.lat[b1], bl.lon[b1])
    return np.where(b0 == b1, 0.0, metres / st.walk_speed_m_per_min * 60)


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return door_ledger(tmp_path_factory.mktemp("door"))


@pytest.fixture(scope="module")
def demo() -> Scenario:
    return read_scenario(EXAMPLES / "demo-community", salt=SALT)


# -- whole plans on the examples -------------------------------------------------------------


@pytest.mark.parametrize("name", ["demo-community", "hangzhou-gongshu"])
def test_examples_keep_every_rule_with_the_plan(name: str) -> None:
    """On each example every door household is visited, and rules 1-5, 7 and 8 hold with the plan's roster."""
    scenario = read_scenario(EXAMPLES / name, salt=SALT)
    households, plan = planned(scenario)
    assert len(households) > 0 and plan.unserved == []
    assert sorted(plan.routes.household.tolist()) == households.tolist()
    schedule = with_plan(scenario, plan)
    assert_rules_kept(scenario, schedule)
    assert (schedule.mode[np.isin(scenario.residents.household, households)] == DOORSTEP).all()
    assert len(np.unique(scenario.residents.household[schedule.mode == DOORSTEP])) == len(households)


def test_hand_ledger_keeps_every_rule(door: Scenario) -> None:
    """The DOOR ledger (tight shifts, breaks and day hours, a shared worker) keeps rules 1-5, 7 and 8."""
    _, plan = planned(door)
    assert plan.unserved == []
    assert_rules_kept(door, with_plan(door, plan))


def test_apply_keeps_point_rows_and_replaces_old_teams(door: Scenario) -> None:
    """apply_doorstep keeps point roster rows, drops earlier team rows and lists no household twice."""
    _, plan = planned(door)
    schedule = solve_assignment(door)
    old_teams = list(schedule.teams)
    schedule.roster = Roster(
        worker=np.array([4, 0], dtype=np.int32),
        point=np.array([0, NO_REF], dtype=np.int32),
        team=np.array([NO_REF, 0], dtype=np.int32),
        role=np.array([ROLES.index("register"), ROLES.index("doorstep")], dtype=np.int8),
        start=np.array([0, 0], dtype=np.int64),
        end=np.array([3600, 3600], dtype=np.int64),
    )
    apply_doorstep(door, schedule, plan)
    assert old_teams and schedule.teams == plan.teams
    assert len(schedule.roster) == 1 + len(plan.roster)
    assert schedule.roster.point[0] == 0 and (schedule.roster.team[1:] >= 0).all()
    assert len({u.resident for u in schedule.unserved}) == len(schedule.unserved)
    assert not (schedule.mode[[u.resident for u in schedule.unserved]] != UNSERVED).any()


# -- team composition ---------------------------------------------------------------------------


def test_every_team_has_a_doorstep_sampler_and_members_may_serve(door: Scenario) -> None:
    """Each team has one doorstep+sample member on duty through its visits and only members who may serve it."""
    _, plan = planned(door)
    wk, ro, rt = door.workers, plan.roster, plan.routes
    assert len(plan.teams) == len(set(plan.teams)) > 0
    assert (ro.role == ROLES.index("doorstep")).all() and (ro.point == NO_REF).all()
    assert ((wk.skills[ro.worker] & SKILL_BIT["doorstep"]) != 0).all()
    for t in range(len(plan.teams)):
        members = np.flatnonzero(ro.team == t)
        samplers = members[(wk.skills[ro.worker[members]] & DOOR_AND_SAMPLE) == DOOR_AND_SAMPLE]
        assert len(samplers) == 1
        stops = np.flatnonzero(rt.team == t)
        assert len(stops) > 0
        s = samplers[0]
        assert ro.start[s] <= rt.arrive[stops].min() and rt.depart[stops].max() <= ro.end[s]
        community = door.buildings.community[door.household_building[rt.household[stops]]]
        assert len(set(community.tolist())) == 1
        member_community = wk.community[ro.worker[members]]
        assert np.isin(member_community, [NO_REF, community[0]]).all()
    helper = wk.ids.index("W3")
    assert helper in ro.worker.tolist()
    assert wk.ids.index("W5") not in ro.worker.tolist()  # no doorstep skill


def test_no_doorstep_sampler_means_unserved_with_reason(tmp_path: Path) -> None:
    """A community whose only doorstep workers cannot sample gets no team; its households are unserved, said why."""
    workers = (
        "worker_id,name,kind,skills,community_id,available\n"
        "W1,,community,doorstep;register,C1,07:00-19:00\n"
        "W2,,medical,sample;doorstep,C2,07:00-19:00\n"
    )
    scenario = door_ledger(tmp_path, workers)
    households, plan = planned(scenario)
    c1 = scenario.communities.index("C1")
    in_c1 = scenario.buildings.community[scenario.household_building[households]] == c1
    assert sorted(h for h, _ in plan.unserved) == households[in_c1].tolist()
    assert all("C1" in detail and "doorstep and sample" in detail for _, detail in plan.unserved)
    assert plan.kpis["samplers_used"] == 1
    schedule = with_plan(scenario, plan)
    assert_rules_kept(scenario, schedule)
    reasons = {u.reason for u in schedule.unserved}
    assert reasons == {"no_doorstep_team"}


# -- route timing --------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["door", "demo"])
def test_routes_walk_between_buildings_and_keep_a_building_together(which: str, door: Scenario, demo: Scenario) -> None:
    """Visits last the set minutes, walks take their time, seq counts 1, 2, 3 and each building is one run."""
    scenario = door if which == "door" else demo
    households, plan = planned(scenario)
    rt, st = plan.routes, scenario.settings
    tier = dict(zip(households.tolist(), tier_of(household_reasons(scenario, households)).tolist(), strict=True))
    assert (rt.depart - rt.arrive == st.doorstep_minutes_per_household * 60).all()
    for t in range(len(plan.teams)):
        rows = np.flatnonzero(rt.team == t)
        rows = rows[np.argsort(rt.seq[rows])]
        assert rt.seq[rows].tolist() == list(range(1, len(rows) + 1))
        b = scenario.household_building[rt.household[rows]]
        need = walk_s(scenario, b[:-1], b[1:])
        assert (rt.arrive[rows][1:] >= rt.depart[rows][:-1] + need).all()
        runs = [(int(x), tier[int(h)]) for x, h in zip(b, rt.household[rows], strict=True)]
        starts = [runs[0]] + [runs[i] for i in range(1, len(runs)) if runs[i] != runs[i - 1]]
        assert len(starts) == len(set(starts)), f"team {plan.teams[t]} comes back to a building"


def test_sealed_first_then_bedridden_then_the_rest(door: Scenario) -> None:
    """Within each team, sealed households come before the bedridden one, which comes before controlled ones."""
    households, plan = planned(door)
    rt = plan.routes
    tier = dict(zip(households.tolist(), tier_of(household_reasons(door, households)).tolist(), strict=True))
    for t in range(len(plan.teams)):
        rows = np.flatnonzero(rt.team == t)
        order = [tier[int(h)] for h in rt.household[rows[np.argsort(rt.seq[rows])]]]
        assert order == sorted(order)


# -- duties --------------------------------------------------------------------------------------


def duties_keep_rule_7(scenario: Scenario, roster: Roster, busy: np.ndarray | None = None) -> None:
    """Independent check of the doorstep duties: slots, availability, shift, break, day hours, busy slots."""
    st = scenario.settings
    slot_s = st.slot_minutes * 60
    assert (roster.start % slot_s == 0).all() and (roster.end % slot_s == 0).all()
    assert (roster.end > roster.start).all()
    for w in np.unique(roster.worker).tolist():
        rows = np.flatnonzero(roster.worker == w)
        rows = rows[np.argsort(roster.start[rows])]
        s, e = roster.start[rows], roster.end[rows]
        open_iv = scenario.workers.available[w].in_round(st.start, st.days)
        for a, b in zip(s.tolist(), e.tolist(), strict=True):
            assert any(lo * 60 <= a and b <= hi * 60 for lo, hi in open_iv), (w, a, b)
            assert b - a <= st.max_shift_hours * 3600
            if busy is not None:
                assert not busy[w, a // slot_s : b // slot_s].any()
                near = busy[w, max(0, a // slot_s - 3) : b // slot_s + 3]
                assert not near.any()  # 60-minute break = 3 slots of 20 minutes
        assert (s[1:] - e[:-1] >= st.min_break_minutes * 60).all()
        days: dict[int, int] = {}
        for a, b in zip(s.tolist(), e.tolist(), strict=True):
            for minute in range(a // 60, b // 60):
                day = (st.start + timedelta(minutes=minute)).toordinal()
                days[day] = days.get(day, 0) + 1
        assert max(days.values()) <= st.max_day_hours * 60


def test_duties_keep_shift_break_day_and_availability(door: Scenario, tmp_path: Path) -> None:
    """Duties keep slots, availability, shift, break and day hours; a lone 24 h sampler works 3 h a calendar day."""
    _, plan = planned(door)
    duties_keep_rule_7(door, plan.roster)
    header = "worker_id,name,kind,skills,community_id,available\n"
    lone = door_ledger(tmp_path, header + "W1,,medical,sample;doorstep,,24小时\n")
    _, plan = planned(lone)
    duties_keep_rule_7(lone, plan.roster)
    assert 3 < plan.kpis["team_hours"] <= 6  # more than one day allows, no more than two
    assert (plan.roster.start >= 17 * 3600).any()  # after midnight


def test_workers_without_community_only_where_own_ones_fall_short(door: Scenario) -> None:
    """The worker without a community serves only C2, which has no sampler of its own, from the round's start."""
    _, plan = planned(door)
    ro = plan.roster
    w4 = door.workers.ids.index("W4")
    teams_of_w4 = {plan.teams[t] for t in ro.team[ro.worker == w4].tolist()}
    assert teams_of_w4 and all(t.startswith("T-C2-") for t in teams_of_w4)
    assert ro.start[ro.worker == w4].min() == 0


def test_busy_slots_are_left_alone(door: Scenario) -> None:
    """No duty overlaps a busy slot or comes within a break of one, and the plan still keeps rule 7."""
    st = door.settings
    busy = np.zeros((len(door.workers), st.n_slots), dtype=bool)
    w1 = door.workers.ids.index("W1")
    busy[w1, 0:6] = True  # W1 at a point 07:00-09:00
    _, plan = planned(door, busy=busy)
    duties_keep_rule_7(door, plan.roster, busy)
    rows = plan.roster.worker == w1
    assert rows.any() and (plan.roster.start[rows] >= 3 * 3600).all()


def test_bad_busy_shape_is_refused(door: Scenario) -> None:
    """A busy table that does not match workers × slots is an error, not a silent guess."""
    with pytest.raises(ValueError, match="busy"):
        planned(door, busy=np.zeros((2, 2), dtype=bool))


def test_takes_only_the_workers_a_shift_needs(tmp_path: Path) -> None:
    """With ten samplers free from the start, the door visits finish within one shift and not all ten are taken."""
    workers = "worker_id,name,kind,skills,community_id,available\n" + "".join(
        f"W{i},,medical,sample;doorstep,{'C1' if i < 9 else 'C2'},07:00-19:00\n" for i in range(1, 11)
    )
    scenario = door_ledger(tmp_path, workers, SETTINGS.replace("max_day_hours = 3", "max_day_hours = 8"))
    _, plan = planned(scenario)
    assert plan.unserved == []
    assert plan.kpis["completion_all_minutes"] <= scenario.settings.max_shift_hours * 60
    assert plan.kpis["samplers_used"] < plan.kpis["samplers_available"] == 10
    assert plan.kpis["lower_bound_minutes"] <= plan.kpis["completion_minutes"]


def test_shift_shorter_than_a_slot_leaves_every_household_unserved(door: Scenario) -> None:
    """A shift shorter than one slot allows no duty: the plan returns with every household unserved, said why."""
    settings = dataclasses.replace(door.settings, max_shift_hours=0.2)  # 12 minutes, slots of 20
    short = dataclasses.replace(door, settings=settings)
    households, plan = planned(short)
    assert len(plan.roster) == 0 and plan.routes.household.size == 0 and plan.teams == []
    assert sorted(h for h, _ in plan.unserved) == households.tolist()
    assert all(detail.strip() for _, detail in plan.unserved)


# -- a pool too small ----------------------------------------------------------------------------


def test_pool_too_small_serves_sealed_first_and_lists_the_rest(tmp_path: Path) -> None:
    """One sampler for 2 h 40 min visits the sealed first and lists each household left out with its reason."""
    workers = "worker_id,name,kind,skills,community_id,available\nW1,,medical,sample;doorstep,C1,07:00-09:40\n"
    settings = SETTINGS.replace("max_shift_hours = 2", "max_shift_hours = 3")
    scenario = door_ledger(tmp_path, workers, settings)
    households, plan = planned(scenario)
    tier = dict(zip(households.tolist(), tier_of(household_reasons(scenario, households)).tolist(), strict=True))
    c1 = scenario.communities.index("C1")
    community = scenario.buildings.community[scenario.household_building]
    served = plan.routes.household.tolist()
    left = [h for h, _ in plan.unserved]
    assert sorted(served + left) == households.tolist()
    served_c1 = [h for h in served if community[h] == c1]
    left_c1 = [h for h in left if community[h] == c1]
    assert served_c1 and left_c1 and max(tier[h] for h in served_c1) <= min(tier[h] for h in left_c1)
    assert all(tier[h] != 0 for h in left_c1)  # every sealed household of C1 is visited
    for h, detail in plan.unserved:
        assert scenario.communities[community[h]] in detail
        assert ("do not fit" in detail) or ("no worker" in detail)
    assert plan.kpis["unserved_households"] == len(left)
    schedule = with_plan(scenario, plan)
    assert_rules_kept(scenario, schedule)
    unserved_h = {int(scenario.residents.household[u.resident]) for u in schedule.unserved}
    assert unserved_h >= set(left)


# -- determinism and quality ---------------------------------------------------------------------


def test_same_input_same_plan(demo: Scenario) -> None:
    """Two plans of one scenario with the same limits are identical: teams, roster and routes."""
    a = planned(demo)[1]
    b = planned(demo)[1]
    assert a.teams == b.teams and a.windows == b.windows and a.unserved == b.unserved
    for name in ("worker", "team", "start", "end"):
        assert np.array_equal(getattr(a.roster, name), getattr(b.roster, name))
    for name in ("team", "seq", "household", "arrive", "depart"):
        assert np.array_equal(getattr(a.routes, name), getattr(b.routes, name))
    assert a.kpis["time_limited_solves"] == 0


def test_no_worse_than_nearest_neighbour_and_above_its_bound(demo: Scenario) -> None:
    """The plan finishes the sealed no later than nearest-neighbour, in no more team-hours, above its bound."""
    households, plan = planned(demo)
    base = nearest_neighbour(demo, households, plan)
    k = plan.kpis
    assert base["unserved_households"] == 0
    assert k["lower_bound_minutes"] <= k["completion_minutes"] <= base["completion_minutes"]
    assert k["team_hours"] <= base["team_hours"]
    sealed = np.isin(plan.routes.household, households[household_reasons(demo, households) == 1])
    assert math.isclose(k["completion_minutes"], plan.routes.depart[sealed].max() / 60, abs_tol=0.05)
    assert k["sealed_households"] == int(sealed.sum())


def test_sealed_levels_match_demand(demo: Scenario) -> None:
    """The households read as sealed are those the zones file seals, counted from the ledger's own rows."""
    households = door_households(demo)
    reason = household_reasons(demo, households)
    folder = EXAMPLES / "demo-community"
    column = {"building": "building_id", "compound": "compound_id", "community": "community_id"}
    zones = [row for row in read_rows(folder / "zones.csv") if row["level"] == "sealed"]
    sealed_buildings = {
        b["building_id"]
        for b in read_rows(folder / "buildings.csv")
        if any(b[column[z["scope"]]] == z["target_id"] for z in zones)
    }
    sealed = {r["household_id"] for r in read_rows(folder / "residents.csv") if r["building_id"] in sealed_buildings}
    assert sealed and {demo.households[h] for h in households[reason == SEALED].tolist()} == sealed
    assert not (solve_assignment(demo).mode[np.isin(demo.residents.household, households)] == POINT).any()
