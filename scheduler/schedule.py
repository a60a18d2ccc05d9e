"""A schedule: every resident's visit, the staff roster, doorstep routes and the KPIs.

Held as numpy arrays aligned with the scenario's tables; times are seconds since the
round opens. `write_schedule` and `read_schedule` translate to and from the contract's
files (assignments.csv, roster.csv, routes.csv, kpis.json), so a schedule written by
anyone can be read back and checked by the validator.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.domain import NO_REF, SKILLS, Scenario

MODES: tuple[str, ...] = ("unserved", "point", "doorstep")
UNSERVED, POINT, DOORSTEP = 0, 1, 2
ROLES = SKILLS  # a role is named after the skill it needs
UNSERVED_REASONS: tuple[str, ...] = ("no_point_in_reach", "no_capacity", "no_staff", "no_doorstep_team")

ASSIGNMENT_COLUMNS = ("resident_id", "mode", "point_id", "team_id", "start", "end")
ROSTER_COLUMNS = ("worker_id", "place", "role", "start", "end")
ROUTE_COLUMNS = ("team_id", "seq", "household_id", "arrive", "depart")

ROSTER_DTYPES = (np.int32, np.int32, np.int32, np.int8, np.int64, np.int64)
ROUTE_DTYPES = (np.int32, np.int32, np.int32, np.int64, np.int64)


def typed_columns(rows: Sequence[tuple[int, ...]], dtypes: tuple[type, ...]) -> list[np.ndarray]:
    """Row tuples as one typed array per column."""
    if not rows:
        return [np.zeros(0, dtype=d) for d in dtypes]
    return [np.array(col, dtype=d) for col, d in zip(zip(*rows, strict=True), dtypes, strict=True)]


@dataclass(frozen=True)
class Unserved:
    resident: int  # row in scenario.residents
    reason: str  # one of UNSERVED_REASONS
    detail: str


@dataclass
class Roster:
    worker: np.ndarray  # int32 row in scenario.workers
    point: np.ndarray  # int32 row in scenario.points, NO_REF for a team duty
    team: np.ndarray  # int32 row in Schedule.teams, NO_REF for a point duty
    role: np.ndarray  # int8 index into ROLES
    start: np.ndarray  # int64 seconds since the round opens
    end: np.ndarray

    @classmethod
    def empty(cls) -> Roster:
        return cls(*typed_columns([], ROSTER_DTYPES))

    def __len__(self) -> int:
        return len(self.worker)


@dataclass
class Routes:
    team: np.ndarray  # int32 row in Schedule.teams
    seq: np.ndarray  # int32, 1, 2, 3 … within a team
    household: np.ndarray  # int32 row in scenario.households
    arrive: np.ndarray  # int64 seconds since the round opens
    depart: np.ndarray

    @classmethod
    def empty(cls) -> Routes:
        return cls(*typed_columns([], ROUTE_DTYPES))

    def __len__(self) -> int:
        return len(self.team)


@dataclass
class Schedule:
    mode: np.ndarray  # int8 per resident: UNSERVED, POINT or DOORSTEP
    point: np.ndarray  # int32 per resident, NO_REF unless at a point
    team: np.ndarray  # int32 per resident, NO_REF unless at the door
    start: np.ndarray  # int64 seconds since the round opens, per resident (-1 when unserved)
    end: np.ndarray
    teams: list[str] = field(default_factory=list)
    roster: Roster = field(default_factory=Roster.empty)
    routes: Routes = field(default_factory=Routes.empty)
    unserved: list[Unserved] = field(default_factory=list)
    kpis: dict[str, Any] = field(default_factory=dict)
    has_roster: bool = False  # False: no roster file at all (staffing not decided)
    # False: the roster holds doorstep teams only and point capacity assumes every desk
    # staffed; written as `"points_staffed": false` in kpis.json so readers know.
    points_staffed: bool = True

    def place_households(
        self, household_of: np.ndarray, point: np.ndarray, slot: np.ndarray, slot_seconds: int
    ) -> np.ndarray:
        """Put every member of each household that has a point (not NO_REF) at its point and slot.

        `household_of` maps residents to households; returns the mask of residents placed.
        """
        resident_point = point[household_of]
        placed = resident_point != NO_REF
        self.mode[placed] = POINT
        self.point[placed] = resident_point[placed]
        self.start[placed] = slot[household_of[placed]].astype(np.int64) * slot_seconds
        self.end[placed] = self.start[placed] + slot_seconds
        return placed

    @classmethod
    def blank(cls, n_residents: int) -> Schedule:
        """A schedule in which nobody is served yet."""
        return cls(
            mode=np.zeros(n_residents, dtype=np.int8),
            point=np.full(n_residents, NO_REF, dtype=np.int32),
            team=np.full(n_residents, NO_REF, dtype=np.int32),
            start=np.full(n_residents, -1, dtype=np.int64),
            end=np.full(n_residents, -1, dtype=np.int64),
        )


def changed_visits(old: Schedule, new: Schedule) -> np.ndarray:
    """Rows of the residents whose visit differs: mode, point, team or time."""
    differs = (old.mode != new.mode) | (old.point != new.point) | (old.start != new.start) | (old.end != new.end)
    # Team ids are per schedule, so compare door visits by team name.
    door = (old.mode == DOORSTEP) & (new.mode == DOORSTEP)
    if door.any():
        old_names = np.array(old.teams, dtype=object)[old.team[door]]
        new_names = np.array(new.teams, dtype=object)[new.team[door]]
        differs[np.flatnonzero(door)[old_names != new_names]] = True
    return np.flatnonzero(differs)


class Clock:
    """Turns seconds since the round opens into the contract's local date-time text and back."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._texts: dict[int, str] = {}
        self._seconds: dict[str, int] = {}

    def text(self, seconds: int) -> str:
        # A district has a million visits but only a few hundred distinct times.
        found = self._texts.get(seconds)
        if found is None:
            moment = self.start + timedelta(seconds=seconds)
            found = moment.isoformat(timespec="minutes" if moment.second == 0 else "seconds")
            self._texts[seconds] = found
        return found

    def seconds(self, text: str) -> int:
        found = self._seconds.get(text)
        if found is None:
            moment = datetime.fromisoformat(text.strip())
            if moment.tzinfo is not None:
                raise ValueError("carries a UTC offset; times are local without offset")
            found = self._seconds[text] = int((moment - self.start).total_seconds())
        return found


def write_schedule(scenario: Scenario, schedule: Schedule, out: Path) -> None:
    """Write the contract's four files; rows in scenario order, so equal schedules give equal bytes."""
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock(scenario.settings.start)
    points, teams = scenario.points.ids, schedule.teams
    with (out / "assignments.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(ASSIGNMENT_COLUMNS)
        served = np.flatnonzero(schedule.mode != UNSERVED)
        ids = scenario.residents.ids
        mode, point, team = schedule.mode, schedule.point, schedule.team
        writer.writerows(
            (
                ids[r],
                MODES[mode[r]],
                points[point[r]] if point[r] != NO_REF else "",
                teams[team[r]] if team[r] != NO_REF else "",
                clock.text(int(schedule.start[r])),
                clock.text(int(schedule.end[r])),
            )
            for r in served.tolist()
        )
    roster_path = out / "roster.csv"
    if not schedule.has_roster:
        # An assignment-only schedule has no roster file at all: an empty one would say
        # "nobody is on duty" rather than "staffing not yet decided".
        roster_path.unlink(missing_ok=True)
    else:
        _write_roster(roster_path, scenario, schedule, clock)
    routes = schedule.routes
    with (out / "routes.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(ROUTE_COLUMNS)
        writer.writerows(
            (
                teams[routes.team[i]],
                int(routes.seq[i]),
                scenario.households[routes.household[i]],
                clock.text(int(routes.arrive[i])),
                clock.text(int(routes.depart[i])),
            )
            for i in range(len(routes))
        )
    kpis = dict(schedule.kpis)
    if schedule.has_roster and not schedule.points_staffed:
        kpis["points_staffed"] = False
    kpis["unserved"] = [
        {"resident_id": scenario.residents.ids[u.resident], "reason": u.reason, "detail": u.detail}
        for u in schedule.unserved
    ]
    (out / "kpis.json").write_text(json.dumps(kpis, indent=2, ensure_ascii=False, sort_keys=True) + "\n", "utf-8")


def _write_roster(path: Path, scenario: Scenario, schedule: Schedule, clock: Clock) -> None:
    roster, points, teams = schedule.roster, scenario.points.ids, schedule.teams
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(ROSTER_COLUMNS)
        writer.writerows(
            (
                scenario.workers.ids[roster.worker[i]],
                points[roster.point[i]] if roster.point[i] != NO_REF else teams[roster.team[i]],
                ROLES[roster.role[i]],
                clock.text(int(roster.start[i])),
                clock.text(int(roster.end[i])),
            )
            for i in range(len(roster))
        )


def _csv_rows(path: Path, columns: tuple[str, ...], problems: list[str]) -> list[tuple[int, list[str]]]:
    if not path.exists():
        problems.append(f"{path.name}: missing (a schedule has all four files)")
        return []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in columns if c not in header]
        if missing:
            problems.append(f"{path.name}: missing column(s) {', '.join(missing)}")
            return []
        index = [header.index(c) for c in columns]
        return [
            (reader.line_num, [cells[i].strip() if i < len(cells) else "" for i in index])
            for cells in reader
            if any(cells)
        ]


def read_schedule(scenario: Scenario, folder: Path) -> tuple[Schedule, list[str]]:
    """Read a schedule folder back into arrays, with every row it could not take.

    A resident listed twice, an unknown id or an unreadable time is a problem (the
    first listing of a resident counts); the validator reports these under its rules.
    """
    problems: list[str] = []
    clock = Clock(scenario.settings.start)
    schedule = Schedule.blank(len(scenario.residents))
    resident_row = {rid: i for i, rid in enumerate(scenario.residents.ids)}
    point_row = {pid: i for i, pid in enumerate(scenario.points.ids)}
    worker_row = {wid: i for i, wid in enumerate(scenario.workers.ids)}
    household_row = {hid: i for i, hid in enumerate(scenario.households)}
    team_row: dict[str, int] = {}

    def team_of(team_id: str) -> int:
        return team_row.setdefault(team_id, len(team_row))

    def times(name: str, line: int, a: str, b: str) -> tuple[int, int] | None:
        try:
            return clock.seconds(a), clock.seconds(b)
        except ValueError as err:
            problems.append(f"{name}:{line}: unreadable time {a!r}/{b!r}: {err}")
            return None

    first_line: dict[int, int] = {}
    for line, (rid, mode, pid, tid, a, b) in _csv_rows(folder / "assignments.csv", ASSIGNMENT_COLUMNS, problems):
        r = resident_row.get(rid)
        if r is None:
            problems.append(f"assignments.csv:{line}: unknown resident_id {rid!r}")
            continue
        if r in first_line:
            problems.append(f"assignments.csv:{line}: resident {rid!r} appears again (first on line {first_line[r]})")
            continue
        span = times("assignments.csv", line, a, b)
        if mode not in ("point", "doorstep") or span is None:
            if span is not None:
                problems.append(f"assignments.csv:{line}: mode {mode!r} is neither point nor doorstep")
            continue
        if mode == "point":
            p = point_row.get(pid)
            if p is None:
                problems.append(f"assignments.csv:{line}: unknown point_id {pid!r}")
                continue
            schedule.point[r] = p
        else:
            if not tid:
                problems.append(f"assignments.csv:{line}: a doorstep visit without team_id")
                continue
            schedule.team[r] = team_of(tid)
        first_line[r] = line
        schedule.mode[r] = POINT if mode == "point" else DOORSTEP
        schedule.start[r], schedule.end[r] = span

    duties: list[tuple[int, int, int, int, int, int]] = []
    for line, (wid, place, role, a, b) in _csv_rows(folder / "roster.csv", ROSTER_COLUMNS, problems):
        w = worker_row.get(wid)
        span = times("roster.csv", line, a, b)
        if w is None or role not in ROLES or span is None:
            if w is None:
                problems.append(f"roster.csv:{line}: unknown worker_id {wid!r}")
            elif span is not None:
                problems.append(f"roster.csv:{line}: unknown role {role!r}")
            continue
        p = point_row.get(place, NO_REF)
        t = team_of(place) if p == NO_REF else NO_REF
        duties.append((w, p, t, ROLES.index(role), *span))
    schedule.has_roster = (folder / "roster.csv").exists()
    schedule.roster = Roster(*typed_columns(duties, ROSTER_DTYPES))

    stops: list[tuple[int, int, int, int, int]] = []
    for line, (tid, seq, hid, a, b) in _csv_rows(folder / "routes.csv", ROUTE_COLUMNS, problems):
        h = household_row.get(hid)
        span = times("routes.csv", line, a, b)
        if h is None or not seq.isdigit() or span is None:
            if h is None:
                problems.append(f"routes.csv:{line}: unknown household_id {hid!r}")
            elif span is not None:
                problems.append(f"routes.csv:{line}: seq {seq!r} is not a whole number")
            continue
        stops.append((team_of(tid), int(seq), h, *span))
    schedule.routes = Routes(*typed_columns(stops, ROUTE_DTYPES))
    schedule.teams = list(team_row)

    kpis_path = folder / "kpis.json"
    if kpis_path.exists():
        try:
            schedule.kpis = json.loads(kpis_path.read_text("utf-8"))
        except json.JSONDecodeError as err:
            problems.append(f"kpis.json: not valid JSON: {err}")
    else:
        problems.append("kpis.json: missing")
    schedule.points_staffed = schedule.kpis.get("points_staffed", True) is not False
    for entry in schedule.kpis.get("unserved", []) if isinstance(schedule.kpis.get("unserved"), list) else []:
        r = resident_row.get(str(entry.get("resident_id"))) if isinstance(entry, dict) else None
        if r is None:
            problems.append(f"kpis.json: unserved entry {entry!r} names no known resident")
            continue
        schedule.unserved.append(Unserved(r, str(entry.get("reason", "")), str(entry.get("detail", ""))))
    return schedule, problems
