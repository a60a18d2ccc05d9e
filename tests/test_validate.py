"""The validator: a hand-built schedule that keeps every rule, then each rule broken on purpose.

The scenario (written as ledger files and read by the real reader):

- community C1: compound K1 with buildings B1, B2 (sealed) and B5 (1 km north), compound K2
  (controlled) with B3; community C2: compound K3 with B4.
- points: P1 public next to B1 (2 desks, 07:00-12:00;14:00-20:00), P2 in compound K2 (1 desk,
  08:00-11:00), P3 of community C1 next to B5 (1 desk, 07:00-12:00); a desk takes 2 residents a slot.
- households: H1 (R1-R3, B1), H2 (R4 bedridden, R5, B1), H3 (R6, B2 sealed), H4 (R7, R8, B3
  controlled), H5 (R9, B4), H6 (R10, B5), H7 (R11, R12, B1).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from scheduler.domain import Scenario
from scheduler.geo import haversine_m
from scheduler.ledger import read_scenario
from scheduler.schedule import (
    DOORSTEP,
    POINT,
    ROLES,
    ROSTER_DTYPES,
    ROUTE_DTYPES,
    UNSERVED,
    Roster,
    Routes,
    Schedule,
    Unserved,
    write_schedule,
)
from scheduler.validate import Report, check_folder, expected_kpis, validate

START = datetime(2022, 3, 14, 7, 0)  # a Monday

SETTINGS = """\
name = "validator test"
start = 2022-03-14T07:00:00
days = 1
slot_minutes = 30
desk_rate_per_hour = 4
doorstep_minutes_per_household = 6
walk_speed_m_per_min = 70
max_walk_m = 800
"""
BUILDINGS = {  # id: (community, compound, lat, lon)
    "B1": ("C1", "K1", 34.2610, 108.9400),
    "B2": ("C1", "K1", 34.2620, 108.9400),
    "B3": ("C1", "K2", 34.2600, 108.9420),
    "B4": ("C2", "K3", 34.2590, 108.9400),
    "B5": ("C1", "K1", 34.2690, 108.9400),
}
RESIDENTS = [  # id, household, building, flags
    ("R1", "H1", "B1", ""),
    ("R2", "H1", "B1", "infant"),
    ("R3", "H1", "B1", ""),
    ("R4", "H2", "B1", "bedridden;elderly_alone"),
    ("R5", "H2", "B1", ""),
    ("R6", "H3", "B2", ""),
    ("R7", "H4", "B3", ""),
    ("R8", "H4", "B3", ""),
    ("R9", "H5", "B4", "elderly_alone"),
    ("R10", "H6", "B5", ""),
    ("R11", "H7", "B1", ""),
    ("R12", "H7", "B1", ""),
]
POINTS = {  # id: (community, compound, lat, lon, desks, hours)
    "P1": ("", "", 34.2600, 108.9400, 2, "07:00-12:00;14:00-20:00"),
    "P2": ("", "K2", 34.2601, 108.9421, 1, "08:00-11:00"),
    "P3": ("C1", "", 34.2690, 108.9410, 1, "07:00-12:00"),
}
WORKERS = [  # id, kind, skills, community, available
    ("W1", "medical", "sample", "", "07:00-20:00"),
    ("W2", "volunteer", "register", "", "07:00-20:00"),
    ("W3", "medical", "sample", "", "07:00-20:00"),
    ("W4", "volunteer", "register", "", "07:00-20:00"),
    ("W5", "cadre", "lead", "", "07:00-20:00"),
    ("W6", "volunteer", "order", "", "07:00-20:00"),
    ("W7", "medical", "sample", "C1", "07:00-20:00"),
    ("W8", "community", "register", "C1", "07:00-20:00"),
    ("W9", "cadre", "lead", "C1", "07:00-20:00"),
    ("W10", "community", "order", "C1", "07:00-20:00"),
    ("W11", "medical", "doorstep;sample", "C1", "07:00-20:00"),
    ("W12", "volunteer", "register;order", "", "07:00-20:00"),
    ("W13", "volunteer", "register", "", "07:00-12:00"),
    ("W14", "community", "doorstep", "C1", "07:00-20:00"),
    ("W15", "cadre", "order", "C1", "07:00-20:00"),
]
ZONES = [("sealed", "building", "B2"), ("controlled", "compound", "K2")]

# The correct schedule.
VISITS = {  # household: (point or team, start, end)
    "H1": ("P1", "07:00", "07:30"),
    "H5": ("P1", "07:00", "07:30"),
    "H7": ("P1", "07:30", "08:00"),
    "H4": ("P2", "08:00", "08:30"),
    "H6": ("P3", "07:00", "07:30"),
    "H2": ("T1", "07:00", "07:06"),
    "H3": ("T1", "07:08", "07:14"),
}
ROSTER = [  # worker, place, role, start, end
    ("W1", "P1", "sample", "07:00", "08:00"),
    ("W2", "P1", "register", "07:00", "08:00"),
    ("W3", "P1", "sample", "07:00", "08:00"),
    ("W4", "P1", "register", "07:00", "08:00"),
    ("W5", "P1", "lead", "07:00", "08:00"),
    ("W6", "P1", "order", "07:00", "08:00"),
    *(
        (w, "P3", role, "07:00", "07:30")
        for w, role in (("W7", "sample"), ("W8", "register"), ("W9", "lead"), ("W10", "order"))
    ),
    *(
        (w, "P2", role, "08:00", "08:30")
        for w, role in (("W7", "sample"), ("W8", "register"), ("W9", "lead"), ("W10", "order"))
    ),
    ("W11", "T1", "doorstep", "07:00", "07:30"),
]
ROUTES = [("T1", 1, "H2", "07:00", "07:06"), ("T1", 2, "H3", "07:08", "07:14")]


def write_scenario(folder: Path) -> Path:
    """The test scenario as a ledger folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.toml").write_text(SETTINGS, "utf-8")
    lines = {
        "buildings": ["building_id,community_id,compound_id,lat,lon"]
        + [f"{b},{c},{k},{lat},{lon}" for b, (c, k, lat, lon) in BUILDINGS.items()],
        "residents": ["resident_id,household_id,building_id,flags"] + [",".join(r) for r in RESIDENTS],
        "points": ["point_id,community_id,compound_id,lat,lon,desks,hours"]
        + [f"{p},{c},{k},{lat},{lon},{d},{h}" for p, (c, k, lat, lon, d, h) in POINTS.items()],
        "workers": ["worker_id,kind,skills,community_id,available"] + [",".join(w) for w in WORKERS],
        "zones": ["level,scope,target_id"] + [",".join(z) for z in ZONES],
    }
    for name, rows in lines.items():
        (folder / f"{name}.csv").write_text("\n".join(rows) + "\n", "utf-8")
    return folder


def at(hhmm: str, day: int = 0) -> int:
    """Seconds since the round opens of a local time `HH:MM` on the round's first (or a later) day."""
    hour, minute = map(int, hhmm.split(":"))
    moment = START.replace(hour=hour, minute=minute) + timedelta(days=day)
    return int((moment - START).total_seconds())


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return read_scenario(write_scenario(tmp_path_factory.mktemp("scenario")), salt=b"validator-test")


def place(scenario: Scenario, s: Schedule, household: str, where: str, start: int, end: int) -> None:
    """Give every member of a household one visit (a point id, or a team id for the door)."""
    members = np.flatnonzero(scenario.residents.household == scenario.households.index(household))
    if where.startswith("P"):
        s.mode[members], s.point[members], s.team[members] = POINT, scenario.points.ids.index(where), -1
    else:
        if where not in s.teams:
            s.teams.append(where)
        s.mode[members], s.point[members], s.team[members] = DOORSTEP, -1, s.teams.index(where)
    s.start[members], s.end[members] = start, end


def set_roster(scenario: Scenario, s: Schedule, rows: list[tuple[str, str, str, str, str]]) -> None:
    cols: list[list[int]] = [[], [], [], [], [], []]
    for worker, where, role, a, b in rows:
        is_point = where in scenario.points.ids
        values = (
            scenario.workers.ids.index(worker),
            scenario.points.ids.index(where) if is_point else -1,
            -1 if is_point else s.teams.index(where),
            ROLES.index(role),
            at(a),
            at(b),
        )
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    s.roster = Roster(*(np.array(c, dtype=d) for c, d in zip(cols, ROSTER_DTYPES, strict=True)))
    s.has_roster = True


def set_routes(scenario: Scenario, s: Schedule, rows: list[tuple[str, int, str, str, str]]) -> None:
    cols: list[list[int]] = [[], [], [], [], []]
    for team, seq, household, a, b in rows:
        values = (s.teams.index(team), seq, scenario.households.index(household), at(a), at(b))
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    s.routes = Routes(*(np.array(c, dtype=d) for c, d in zip(cols, ROUTE_DTYPES, strict=True)))


def walk_by_hand() -> float:
    """Total walk of the correct schedule, from the coordinates above."""
    total = 0.0
    for household, (where, _, _) in VISITS.items():
        if not where.startswith("P"):
            continue
        members = [r for r in RESIDENTS if r[1] == household]
        b = BUILDINGS[members[0][2]]
        p = POINTS[where]
        total += len(members) * float(haversine_m(np.array(b[2]), np.array(b[3]), np.array(p[2]), np.array(p[3])))
    return total


def good_schedule(scenario: Scenario) -> Schedule:
    s = Schedule.blank(len(scenario.residents))
    for household, (where, a, b) in VISITS.items():
        place(scenario, s, household, where, at(a), at(b))
    set_roster(scenario, s, ROSTER)
    set_routes(scenario, s, ROUTES)
    s.kpis = {
        "residents": 12,
        "covered": 12,
        "walk_m_total": walk_by_hand(),
        "walk_m_lower_bound": 0.0,
        "max_slot_utilisation": 1.0,  # P1 07:00 and P2 08:00 are full
        "desks_opened": 4,
        "staff_hours": 10.5,
        "doorstep_households": 2,
        "solve_seconds": 0.0,
    }
    return s


def honest(scenario: Scenario, s: Schedule) -> Schedule:
    """Bring the recomputable KPIs in line with a changed schedule, so only the broken rule shows."""
    s.kpis.update({k: v for k, v in expected_kpis(scenario, s).items() if v is not None})
    return s


def broken(report: Report, *rules: str) -> str:
    """Assert exactly `rules` are violated; return their violations as one text."""
    assert report.violated() == list(rules), report.text()
    return "\n".join(v for r in report.results if r.rule in rules for v in r.violations)


# -- the correct schedule -------------------------------------------------------------------


def test_correct_schedule_keeps_every_rule(scenario: Scenario) -> None:
    """A hand-built schedule that keeps every rule is reported kept on every rule."""
    report = validate(scenario, good_schedule(scenario))
    assert report.ok, report.text()
    assert [(r.rule, r.status) for r in report.results] == [
        (rule, "kept") for rule in ("format", "1", "2", "3", "4", "5", "6", "7", "8", "kpis")
    ]
    assert "rule 3 zones: kept" in report.text()


def test_expected_kpis_match_the_hand_count(scenario: Scenario) -> None:
    """The validator's recomputed KPIs equal those counted by hand for the correct schedule."""
    got = expected_kpis(scenario, good_schedule(scenario))
    assert got["residents"] == 12 and got["covered"] == 12 and got["doorstep_households"] == 2
    assert got["desks_opened"] == 4 and got["staff_hours"] == pytest.approx(10.5)
    assert got["max_slot_utilisation"] == pytest.approx(1.0)
    assert got["walk_m_total"] == pytest.approx(walk_by_hand())


def test_unserved_household_listed_with_reason_is_kept(scenario: Scenario) -> None:
    """A household left out but listed unserved with a reason and detail keeps rule 1."""
    s = good_schedule(scenario)
    place(scenario, s, "H7", "P1", -1, -1)
    rows = np.flatnonzero(scenario.residents.household == scenario.households.index("H7"))
    s.mode[rows] = UNSERVED
    s.point[rows] = -1
    s.unserved = [Unserved(int(r), "no_capacity", "P1 full 07:00-08:00") for r in rows]
    report = validate(scenario, honest(scenario, s))
    assert report.ok, report.text()


def test_no_roster_keeps_capacity_and_skips_staff(scenario: Scenario) -> None:
    """Without a roster, capacity uses every desk and rules 7 and the staffing part of 6 are not checked."""
    s = good_schedule(scenario)
    s.roster, s.has_roster = Roster.empty(), False
    report = validate(scenario, s)
    assert report.ok, report.text()
    assert report.result("7").status == "not checked"
    assert "lead" in report.result("6").note
    assert "staff_hours" in report.result("kpis").note
    assert expected_kpis(scenario, s)["desks_opened"] == 4  # P1 needs 2 desks at 07:00, P2 and P3 one each


def _teams_only(scenario: Scenario) -> Schedule:
    """The correct schedule with its point duties taken out, declared a roster of doorstep teams only."""
    s = good_schedule(scenario)
    teams = np.flatnonzero(s.roster.point == -1)
    ro = s.roster
    s.roster = Roster(ro.worker[teams], ro.point[teams], ro.team[teams], ro.role[teams], ro.start[teams], ro.end[teams])
    s.points_staffed = False
    return honest(scenario, s)


def test_doorstep_only_roster_is_checked_as_such(scenario: Scenario) -> None:
    """A roster declared to staff teams only keeps rules 6-8; the same roster claiming to staff points breaks 6."""
    s = _teams_only(scenario)
    report = validate(scenario, s)
    assert report.ok, report.text()
    assert report.result("7").status == "kept" and report.result("8").status == "kept"
    assert "doorstep teams only" in report.result("6").note
    s.points_staffed = True
    assert "6" in validate(scenario, s).violated()


def test_doorstep_only_roster_survives_the_files(scenario: Scenario, tmp_path: Path) -> None:
    """`points_staffed: false` is written to kpis.json and read back, so check_folder judges the same way."""
    s = _teams_only(scenario)
    write_schedule(scenario, s, tmp_path)
    assert json.loads((tmp_path / "kpis.json").read_text())["points_staffed"] is False
    assert check_folder(scenario, tmp_path).ok


# -- rule 1 ---------------------------------------------------------------------------------


def test_resident_missing_breaks_coverage(scenario: Scenario) -> None:
    """A resident with no visit and no unserved entry breaks rule 1 only."""
    s = good_schedule(scenario)
    r9 = scenario.residents.ids.index("R9")
    s.mode[r9], s.point[r9], s.start[r9], s.end[r9] = UNSERVED, -1, -1, -1
    text = broken(validate(scenario, honest(scenario, s)), "1")
    assert "R9" in text and "not listed unserved" in text


def test_partly_served_household_and_bad_reason_break_coverage(scenario: Scenario) -> None:
    """A household served in part, and an unserved entry with an unknown reason, break rule 1."""
    s = good_schedule(scenario)
    r3 = scenario.residents.ids.index("R3")
    s.mode[r3], s.point[r3], s.start[r3], s.end[r3] = UNSERVED, -1, -1, -1
    s.unserved = [Unserved(r3, "too_busy", "")]
    report = validate(scenario, honest(scenario, s))
    text = broken(report, "1")
    assert "household H1" in text and "too_busy" in text and "without a detail" in text
    assert report.result("1").count == 3


def test_served_and_unserved_breaks_coverage(scenario: Scenario) -> None:
    """A resident both served and listed unserved breaks rule 1."""
    s = good_schedule(scenario)
    s.unserved = [Unserved(scenario.residents.ids.index("R10"), "no_staff", "no sampler")]
    text = broken(validate(scenario, s), "1")
    assert "R10" in text and "also listed unserved" in text


# -- rule 2 ---------------------------------------------------------------------------------


def test_household_split_breaks_households_together(scenario: Scenario) -> None:
    """A household whose members go to different slots breaks rule 2 only."""
    s = good_schedule(scenario)
    r3 = scenario.residents.ids.index("R3")
    s.start[r3], s.end[r3] = at("07:30"), at("08:00")
    text = broken(validate(scenario, honest(scenario, s)), "2")
    assert "household H1" in text and "R3" in text and "2022-03-14T07:30" in text


# -- rule 3 ---------------------------------------------------------------------------------


def test_sealed_resident_at_a_point_breaks_zones(scenario: Scenario) -> None:
    """A resident of a sealed building sent to a point breaks rule 3 only."""
    s = good_schedule(scenario)
    place(scenario, s, "H3", "P1", at("07:30"), at("08:00"))
    set_routes(scenario, s, ROUTES[:1])
    text = broken(validate(scenario, honest(scenario, s)), "3")
    assert "R6" in text and "B2" in text and "sealed" in text


def test_controlled_resident_at_a_public_point_breaks_zones(scenario: Scenario) -> None:
    """A resident of a controlled compound sent to a public point breaks rule 3 only."""
    s = good_schedule(scenario)
    place(scenario, s, "H4", "P1", at("07:30"), at("08:00"))
    text = broken(validate(scenario, honest(scenario, s)), "3")
    assert "R7" in text and "R8" in text and "compound K2" in text


def test_point_beyond_max_walk_breaks_zones(scenario: Scenario) -> None:
    """A resident sent to a point farther than max_walk_m breaks rule 3 only."""
    s = good_schedule(scenario)
    place(scenario, s, "H6", "P1", at("07:30"), at("08:00"))
    text = broken(validate(scenario, honest(scenario, s)), "3")
    assert "R10" in text and "max_walk_m 800" in text


def test_point_of_another_community_breaks_zones(scenario: Scenario) -> None:
    """A resident of community C2 at community C1's point breaks rule 3 only."""
    s = good_schedule(scenario)
    place(scenario, s, "H5", "P3", at("07:00"), at("07:30"))
    text = broken(validate(scenario, honest(scenario, s)), "3")
    assert "R9" in text and "P3" in text and "community" in text


def test_doorstep_by_choice_is_kept(scenario: Scenario) -> None:
    """A household that may go to a point but is served at its door keeps every rule (ruling 8)."""
    s = good_schedule(scenario)
    place(scenario, s, "H7", "T1", at("07:16"), at("07:22"))
    set_routes(scenario, s, [*ROUTES, ("T1", 3, "H7", "07:16", "07:22")])
    report = validate(scenario, honest(scenario, s))
    assert report.ok, report.text()


# -- rule 4 ---------------------------------------------------------------------------------


def test_bedridden_household_at_a_point_breaks_bedridden(scenario: Scenario) -> None:
    """A household with a bedridden member sent to a point breaks rule 4 only."""
    s = good_schedule(scenario)
    place(scenario, s, "H2", "P1", at("07:30"), at("08:00"))
    set_routes(scenario, s, [("T1", 1, "H3", "07:08", "07:14")])
    text = broken(validate(scenario, honest(scenario, s)), "4")
    assert "household H2" in text and "bedridden" in text


# -- rule 5 ---------------------------------------------------------------------------------


def test_visit_while_the_point_is_closed_breaks_open_hours(scenario: Scenario) -> None:
    """A point visit at 03:00, when the point is closed, breaks rule 5 (no roster: capacity counts every desk)."""
    s = good_schedule(scenario)
    s.roster, s.has_roster = Roster.empty(), False
    place(scenario, s, "H5", "P1", at("03:00", day=1), at("03:30", day=1))
    text = broken(validate(scenario, honest(scenario, s)), "5")
    assert "R9" in text and "2022-03-15T03:00" in text and "not open" in text


def test_visit_while_closed_with_roster_is_also_unstaffed(scenario: Scenario) -> None:
    """With a roster, a visit at a closed hour breaks rule 5 and, nobody being on duty, rule 6."""
    s = good_schedule(scenario)
    place(scenario, s, "H5", "P1", at("12:30"), at("13:00"))
    text = broken(validate(scenario, honest(scenario, s)), "5", "6")
    assert "R9" in text and "P1 slot 2022-03-14T12:30" in text


def test_misaligned_slot_breaks_open_hours(scenario: Scenario) -> None:
    """A point visit not aligned to the round's slots breaks rule 5 only."""
    s = good_schedule(scenario)
    place(scenario, s, "H5", "P1", at("07:10"), at("07:40"))
    text = broken(validate(scenario, honest(scenario, s)), "5")
    assert "R9" in text and "aligned" in text and "2022-03-14T07:10" in text


def test_door_visit_of_wrong_length_breaks_open_hours(scenario: Scenario) -> None:
    """A door visit longer than doorstep_minutes_per_household breaks rule 5 (and rule 8's route)."""
    s = good_schedule(scenario)
    place(scenario, s, "H3", "T1", at("07:08"), at("07:20"))
    text = broken(validate(scenario, s), "5", "8")
    assert "R6" in text and "6 minutes" in text


# -- rule 6 ---------------------------------------------------------------------------------


def test_point_slot_over_capacity_breaks_capacity(scenario: Scenario) -> None:
    """Six residents in a slot of two staffed desks (4 places) break rule 6 only."""
    s = good_schedule(scenario)
    place(scenario, s, "H7", "P1", at("07:00"), at("07:30"))
    text = broken(validate(scenario, honest(scenario, s)), "6")
    assert "point P1 slot 2022-03-14T07:00" in text and "6 residents > capacity 4" in text


def test_desk_without_registrar_breaks_capacity(scenario: Scenario) -> None:
    """A desk whose registrar is missing is closed, so the slot is over capacity: rule 6 only."""
    s = good_schedule(scenario)
    set_roster(scenario, s, [row for row in ROSTER if row[0] != "W4"])
    text = broken(validate(scenario, honest(scenario, s)), "6")
    assert "P1" in text and "registrars 1" in text and "open desks 1" in text


def test_registrar_for_part_of_the_slot_does_not_count(scenario: Scenario) -> None:
    """A registrar on duty for only part of a slot does not open the desk (ruling 3): rule 6."""
    s = good_schedule(scenario)
    rows = [row for row in ROSTER if row[0] != "W4"] + [("W4", "P1", "register", "07:10", "08:00")]
    set_roster(scenario, s, rows)
    text = broken(validate(scenario, honest(scenario, s)), "6")
    assert "point P1 slot 2022-03-14T07:00" in text and "registrars 1" in text


def test_missing_lead_breaks_capacity(scenario: Scenario) -> None:
    """A point slot with residents but no lead breaks rule 6 only."""
    s = good_schedule(scenario)
    set_roster(scenario, s, [row for row in ROSTER if row[0] != "W5"])
    text = broken(validate(scenario, honest(scenario, s)), "6")
    assert "P1" in text and "no lead" in text


def test_missing_order_keeper_breaks_capacity(scenario: Scenario) -> None:
    """A point slot with residents but no order keeper breaks rule 6 only."""
    s = good_schedule(scenario)
    set_roster(scenario, s, [row for row in ROSTER if not (row[0] == "W10" and row[1] == "P2")])
    text = broken(validate(scenario, honest(scenario, s)), "6")
    assert "point P2 slot 2022-03-14T08:00" in text and "order keeper" in text


# -- rule 7 ---------------------------------------------------------------------------------


def test_role_outside_skills_breaks_staff(scenario: Scenario) -> None:
    """A worker filling a role not among their skills breaks rule 7 only."""
    s = good_schedule(scenario)
    set_roster(scenario, s, [*ROSTER, ("W12", "P1", "sample", "07:00", "08:00")])
    text = broken(validate(scenario, honest(scenario, s)), "7")
    assert "W12" in text and "role sample is not among the skills register;order" in text


def test_duty_outside_availability_breaks_staff(scenario: Scenario) -> None:
    """A duty outside the worker's available hours breaks rule 7 only."""
    s = good_schedule(scenario)
    set_roster(scenario, s, [*ROSTER, ("W13", "P1", "register", "13:00", "14:00")])
    text = broken(validate(scenario, honest(scenario, s)), "7")
    assert "W13" in text and "2022-03-14T13:00" in text and "available" in text


def test_worker_in_two_places_at_once_breaks_staff(scenario: Scenario) -> None:
    """A worker on duty at two points at the same time breaks rule 7 only."""
    s = good_schedule(scenario)
    rows = [*ROSTER, ("W12", "P1", "register", "07:00", "08:00"), ("W12", "P3", "order", "07:00", "07:30")]
    set_roster(scenario, s, rows)
    text = broken(validate(scenario, honest(scenario, s)), "7")
    assert "W12" in text and "overlaps" in text and "P3" in text


def test_five_hour_continuous_duty_breaks_staff(scenario: Scenario) -> None:
    """Two touching rows making a 5-hour duty break max_shift_hours: rule 7 only."""
    s = good_schedule(scenario)
    rows = [*ROSTER, ("W12", "P1", "register", "07:00", "09:00"), ("W12", "P1", "register", "09:00", "12:00")]
    set_roster(scenario, s, rows)
    text = broken(validate(scenario, honest(scenario, s)), "7")
    assert "W12" in text and "lasts 5 h" in text


def test_ten_minute_break_breaks_staff(scenario: Scenario) -> None:
    """Two duties 10 minutes apart break min_break_minutes: rule 7 only."""
    s = good_schedule(scenario)
    rows = [*ROSTER, ("W12", "P1", "register", "07:00", "08:00"), ("W12", "P1", "order", "08:10", "09:00")]
    set_roster(scenario, s, rows)
    text = broken(validate(scenario, honest(scenario, s)), "7")
    assert "W12" in text and "break of 10 min" in text


def test_nine_hours_in_a_day_breaks_staff(scenario: Scenario) -> None:
    """Three duties of 4 + 4 + 1 hours in one day break max_day_hours: rule 7 only."""
    s = good_schedule(scenario)
    rows = [
        *ROSTER,
        ("W12", "P1", "register", "07:00", "11:00"),
        ("W12", "P1", "register", "11:30", "15:30"),
        ("W12", "P1", "register", "16:00", "17:00"),
    ]
    set_roster(scenario, s, rows)
    report = validate(scenario, honest(scenario, s))
    text = broken(report, "7")
    assert "W12" in text and "9 h on duty on 2022-03-14" in text
    assert report.result("7").count == 1


def test_community_worker_at_a_public_point_breaks_staff(scenario: Scenario) -> None:
    """A worker of community C1 at a public point breaks rule 7 only (ruling 5)."""
    s = good_schedule(scenario)
    set_roster(scenario, s, [*ROSTER, ("W15", "P1", "order", "07:00", "08:00")])
    text = broken(validate(scenario, honest(scenario, s)), "7")
    assert "W15" in text and "public point" in text


def test_community_worker_on_a_team_in_another_community_breaks_staff(scenario: Scenario) -> None:
    """A C1 worker on a team while it visits a C2 household breaks rule 7 (ruling 5)."""
    s = good_schedule(scenario)
    place(scenario, s, "H5", "T1", at("07:20"), at("07:26"))
    set_routes(scenario, s, [*ROUTES, ("T1", 3, "H5", "07:20", "07:26")])
    text = broken(validate(scenario, honest(scenario, s)), "7")
    assert "W11" in text and "H5" in text and "community C2" in text


# -- rule 8 ---------------------------------------------------------------------------------


def test_team_without_doorstep_sampler_breaks_doorstep(scenario: Scenario) -> None:
    """A team whose only member lacks the sample skill breaks rule 8 only."""
    s = good_schedule(scenario)
    rows = [row if row[0] != "W11" else ("W14", *row[1:]) for row in ROSTER]
    set_roster(scenario, s, rows)
    text = broken(validate(scenario, honest(scenario, s)), "8")
    assert "team T1" in text and "doorstep and sample" in text


def test_too_little_walking_time_breaks_doorstep(scenario: Scenario) -> None:
    """A stop reached sooner than walking from the previous building allows breaks rule 8 only."""
    s = good_schedule(scenario)
    place(scenario, s, "H3", "T1", at("07:07"), at("07:13"))
    set_routes(scenario, s, [ROUTES[0], ("T1", 2, "H3", "07:07", "07:13")])
    text = broken(validate(scenario, s), "8")
    assert "team T1 stop 2 household H3" in text and "walking takes 1.59 min" in text


def test_visit_outside_member_duty_breaks_doorstep(scenario: Scenario) -> None:
    """A door visit after the doorstep sampler's duty ends breaks rule 8 only."""
    s = good_schedule(scenario)
    place(scenario, s, "H3", "T1", at("07:28"), at("07:34"))
    set_routes(scenario, s, [ROUTES[0], ("T1", 2, "H3", "07:28", "07:34")])
    text = broken(validate(scenario, s), "8")
    assert "household H3" in text and "duty" in text


def test_route_gap_and_stray_assignment_break_doorstep(scenario: Scenario) -> None:
    """A seq gap and an assignment that differs from its route stop break rule 8 only."""
    s = good_schedule(scenario)
    set_routes(scenario, s, [ROUTES[0], ("T1", 3, "H3", "07:08", "07:14")])
    r6 = scenario.residents.ids.index("R6")
    s.start[r6], s.end[r6] = at("07:20"), at("07:26")
    report = validate(scenario, s)
    text = broken(report, "8")
    assert "seq 3 where 2 comes next" in text and "R6" in text


def test_no_routes_leaves_doorstep_not_checked(scenario: Scenario) -> None:
    """Doorstep residents with no routes at all: rule 8 is reported not checked, not kept."""
    s = good_schedule(scenario)
    s.routes = Routes.empty()
    report = validate(scenario, s)
    assert report.ok, report.text()
    assert report.result("8").status == "not checked" and "no routes" in report.result("8").note


# -- KPIs -----------------------------------------------------------------------------------


def test_wrong_kpis_are_reported(scenario: Scenario) -> None:
    """A wrong covered count, a bound above the total and a missing key break the KPI check only."""
    s = good_schedule(scenario)
    s.kpis["covered"] = 11
    s.kpis["walk_m_lower_bound"] = s.kpis["walk_m_total"] + 10
    del s.kpis["solve_seconds"]
    report = validate(scenario, s)
    text = broken(report, "kpis")
    assert "covered = 11" in text and "walk_m_lower_bound" in text and "solve_seconds is missing" in text
    assert report.result("kpis").count == 3


def test_walk_total_within_a_metre_is_kept(scenario: Scenario) -> None:
    """walk_m_total off by half a metre is accepted, off by two metres is not."""
    s = good_schedule(scenario)
    s.kpis["walk_m_total"] += 0.5
    assert validate(scenario, s).ok
    s.kpis["walk_m_total"] += 1.5
    assert "walk_m_total" in broken(validate(scenario, s), "kpis")


# -- files ----------------------------------------------------------------------------------


def test_check_folder_round_trip(scenario: Scenario, tmp_path: Path) -> None:
    """A schedule written by write_schedule reads back and keeps every rule."""
    write_schedule(scenario, good_schedule(scenario), tmp_path)
    report = check_folder(scenario, tmp_path)
    assert report.ok, report.text()
    assert report.result("8").status == "kept"


def test_check_folder_reports_duplicated_resident_row(scenario: Scenario, tmp_path: Path) -> None:
    """A resident listed twice in assignments.csv is a file problem (format) and nothing else."""
    write_schedule(scenario, good_schedule(scenario), tmp_path)
    path = tmp_path / "assignments.csv"
    lines = path.read_text("utf-8").splitlines()
    duplicate = next(line for line in lines if line.startswith("R9,"))
    path.write_text("\n".join([*lines, duplicate]) + "\n", "utf-8")
    report = check_folder(scenario, tmp_path)
    text = broken(report, "format")
    assert "R9" in text and "appears again" in text


def test_check_folder_reports_missing_unserved_list(scenario: Scenario, tmp_path: Path) -> None:
    """kpis.json without the unserved list is a file problem."""
    write_schedule(scenario, good_schedule(scenario), tmp_path)
    kpis = json.loads((tmp_path / "kpis.json").read_text("utf-8"))
    del kpis["unserved"]
    (tmp_path / "kpis.json").write_text(json.dumps(kpis), "utf-8")
    assert "unserved" in broken(check_folder(scenario, tmp_path), "format")


def test_report_text_lists_rules_and_violations(scenario: Scenario) -> None:
    """Report.text gives one line per rule and indents the violations under it."""
    s = good_schedule(scenario)
    place(scenario, s, "H7", "P1", at("07:00"), at("07:30"))
    lines = validate(scenario, honest(scenario, s)).text().splitlines()
    assert lines[0] == "format: kept" and "rule 1 coverage: kept" in lines and lines[-1] == "kpis: kept"
    at_6 = lines.index("rule 6 capacity: 1 violation(s)")
    assert lines[at_6 + 1].startswith("    point P1 slot 2022-03-14T07:00")
