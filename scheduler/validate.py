"""The validator: checks every rule of `scenario-format.md` on any schedule.

It knows nothing of how a schedule was made: eligibility, capacities, staffed desks,
duties and walking times are all re-derived here from the scenario and the contract.
Every check is vectorised with numpy (a district has a million residents and is
validated before every publication); Python loops run per point, per worker or per
team at most, and per resident only to word the first violations of a rule.

Times in a `Schedule` are seconds since the round opens; messages give them as the
contract's local date-times.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.domain import FLAG_BIT, LEVELS, NO_REF, SKILL_BIT, OpeningHours, Scenario, names_of, slot_masks
from scheduler.geo import haversine_m
from scheduler.schedule import (
    DOORSTEP,
    MODES,
    POINT,
    ROLES,
    UNSERVED,
    UNSERVED_REASONS,
    Clock,
    Schedule,
    read_schedule,
)

MAX_LISTED = 50  # violations worded per rule; the rest are counted
KEPT, VIOLATED, NOT_CHECKED = "kept", "violated", "not checked"

TITLES: dict[str, str] = {
    "format": "file format",
    "1": "coverage",
    "2": "households together",
    "3": "zones",
    "4": "bedridden",
    "5": "open hours",
    "6": "capacity",
    "7": "staff",
    "8": "doorstep",
    "kpis": "KPI honesty",
}
# The keys kpis.json must carry; "unserved" is held in Schedule.unserved and checked by rule 1
# (check_folder also requires it in the file).
REQUIRED_KPIS: tuple[str, ...] = (
    "residents",
    "covered",
    "walk_m_total",
    "walk_m_lower_bound",
    "max_slot_utilisation",
    "desks_opened",
    "staff_hours",
    "doorstep_households",
    "solve_seconds",
)

SAMPLE, REGISTER, ORDER, LEAD, DOOR = (ROLES.index(r) for r in ("sample", "register", "order", "lead", "doorstep"))
SEALED, CONTROLLED = LEVELS.index("sealed"), LEVELS.index("controlled")
BEDRIDDEN = FLAG_BIT["bedridden"]
DOOR_AND_SAMPLE = SKILL_BIT["doorstep"] | SKILL_BIT["sample"]
WALK_ROUNDING_S = 1.0  # walking times are compared to the second


@dataclass
class RuleResult:
    rule: str  # "1".."8", "format" or "kpis"
    title: str
    status: str  # "kept", "violated" or "not checked"
    violations: list[str] = field(default_factory=list)  # the first MAX_LISTED, worded
    count: int = 0  # all violations
    note: str = ""

    def line(self) -> str:
        head = f"rule {self.rule} {self.title}" if self.rule.isdigit() else self.rule
        state = f"{self.count} violation(s)" if self.status == VIOLATED else self.status
        lines = [f"{head}: {state}"]
        if self.note:
            lines.append(f"    note: {self.note}")
        lines.extend(f"    {v}" for v in self.violations)
        if self.count > len(self.violations):
            lines.append(f"    … and {self.count - len(self.violations)} more")
        return "\n".join(lines)


@dataclass
class Report:
    results: list[RuleResult]

    @property
    def ok(self) -> bool:
        """No rule is violated (a rule not checked does not make a schedule wrong)."""
        return all(r.status != VIOLATED for r in self.results)

    def result(self, rule: str) -> RuleResult:
        for r in self.results:
            if r.rule == rule:
                return r
        raise KeyError(rule)

    def violated(self) -> list[str]:
        """The rules that report violations, in report order."""
        return [r.rule for r in self.results if r.status == VIOLATED]

    def text(self) -> str:
        return "\n".join(r.line() for r in self.results)


class _Findings:
    """Violations of one rule: all counted, the first MAX_LISTED worded."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.messages) < MAX_LISTED:
            self.messages.append(message)

    def add_many(self, rows: np.ndarray, word: Callable[[int], str]) -> None:
        rows = np.asarray(rows)
        self.count += len(rows)
        room = MAX_LISTED - len(self.messages)
        if room > 0:
            self.messages.extend(word(int(i)) for i in rows[:room])

    def result(self, rule: str, note: str = "", status: str | None = None) -> RuleResult:
        if status is None:
            status = VIOLATED if self.count else KEPT
        return RuleResult(rule, TITLES[rule], status, self.messages, self.count, note)


def _merge(group: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, ...]:
    """Merge the intervals of each group that overlap or touch.

    Returns (group, start, end) of the merged intervals, sorted by group then start.
    """
    if len(group) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    order = np.lexsort((start, group))
    g, s, e = group[order], start[order].astype(np.int64), end[order].astype(np.int64)
    e = np.maximum(e, s)
    gid = np.concatenate(([0], np.cumsum(g[1:] != g[:-1])))
    lo = int(s.min())
    span = int(e.max()) - lo + 1
    key_end = np.maximum.accumulate(gid * span + (e - lo))
    previous = np.concatenate(([-1], key_end[:-1]))
    new = gid * span + (s - lo) > previous
    first = np.flatnonzero(new)
    return g[first], s[first], np.maximum.reduceat(e, first)


def _overlapping(group: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows of one group whose intervals overlap (touching is no overlap).

    Returns (row, earlier_row): each row that starts before an earlier-starting row of
    its group has ended, and the row of that group ending last before it.
    """
    if len(group) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    order = np.lexsort((end, start, group))
    g, s, e = group[order], start[order].astype(np.int64), end[order].astype(np.int64)
    gid = np.concatenate(([0], np.cumsum(g[1:] != g[:-1])))
    lo = min(int(s.min()), int(e.min()))
    span = max(int(s.max()), int(e.max())) - lo + 1
    key_end = gid * span + (e - lo)
    running = np.maximum.accumulate(key_end)
    previous = np.concatenate(([-1], running[:-1]))
    hit = np.flatnonzero(gid * span + (s - lo) < previous)
    # The earlier row whose end is the running maximum: the last position reaching it.
    holder = np.maximum.accumulate(np.where(key_end == running, np.arange(len(g)), 0))
    return order[hit], order[holder[hit - 1]]


class _Context:
    """What several rules need, derived once from the scenario and the schedule."""

    def __init__(self, scenario: Scenario, schedule: Schedule) -> None:
        self.scenario = scenario
        self.schedule = schedule
        # Point desks are judged by the roster only when the roster claims to staff them.
        self.points_rostered = schedule.has_roster and schedule.points_staffed
        st = self.settings = scenario.settings
        self.clock = Clock(st.start)
        self.slot_s = st.slot_minutes * 60
        self.round_s = st.round_minutes * 60
        self.n_slots = st.n_slots
        self.door_s = st.doorstep_minutes_per_household * 60
        res, pts, bld = scenario.residents, scenario.points, scenario.buildings
        self.n = len(res)
        self.n_points = len(pts)
        self.n_teams = len(schedule.teams)

        # Each resident's building, community, compound and zone level.
        self.building = res.building
        self.level = scenario.building_level()[res.building]
        self.b_comm = bld.community[res.building]
        self.b_comp = bld.compound[res.building]

        self.p_comm = scenario.point_community()

        mode, point, team = schedule.mode, schedule.point, schedule.team
        self.served = (mode == POINT) | (mode == DOORSTEP)
        self.at_point = (mode == POINT) & (point >= 0) & (point < self.n_points)
        self.at_door = (mode == DOORSTEP) & (team >= 0) & (team < self.n_teams)
        self.well_formed = self.at_point | self.at_door
        self.point_rows = np.flatnonzero(self.at_point)

        # Distance walked by each point-mode resident.
        pr = self.point_rows
        p = point[pr]
        b = res.building[pr]
        self.walk = haversine_m(bld.lat[b], bld.lon[b], pts.lat[p], pts.lon[p])

        # Residents per (point, slot): a visit counts in the slot it starts in.
        start = schedule.start[pr]
        inside_round = (start >= 0) & (start < self.round_s)
        cell = p[inside_round].astype(np.int64) * self.n_slots + start[inside_round] // self.slot_s
        self.load = np.bincount(cell, minlength=self.n_points * self.n_slots).reshape(self.n_points, self.n_slots)

        self._hours_cache: dict[OpeningHours, list[tuple[int, int]]] = {}
        self._roster()

    # -- names and times --------------------------------------------------------------

    def span(self, a: int, b: int) -> str:
        """`2022-03-14T07:00–07:30`; the end's date is given only when it differs."""
        first, last = self.clock.text(int(a)), self.clock.text(int(b))
        return f"{first}–{last[11:] if last[:10] == first[:10] else last}"

    def resident(self, r: int) -> str:
        sc = self.scenario
        return f"resident {sc.residents.ids[r]} (household {sc.households[sc.residents.household[r]]})"

    def visit(self, r: int) -> str:
        s = self.schedule
        mode = int(s.mode[r])
        when = self.span(s.start[r], s.end[r])
        if mode == POINT and 0 <= s.point[r] < self.n_points:
            return f"at point {self.scenario.points.ids[s.point[r]]} {when}"
        if mode == DOORSTEP and 0 <= s.team[r] < self.n_teams:
            return f"at the door by team {s.teams[s.team[r]]} {when}"
        return f"mode {MODES[mode] if 0 <= mode < len(MODES) else mode} {when}"

    def slot(self, p: int, k: int) -> str:
        a = k * self.slot_s
        return f"point {self.scenario.points.ids[p]} slot {self.span(a, a + self.slot_s)}"

    def in_round(self, hours: OpeningHours) -> list[tuple[int, int]]:
        found = self._hours_cache.get(hours)
        if found is None:
            found = hours.in_round(self.settings.start, self.settings.days, self.settings.round_minutes)
            self._hours_cache[hours] = found
        return found

    # -- the roster ---------------------------------------------------------------------

    def _roster(self) -> None:
        """Valid roster rows, staff on duty per point-slot, open desks and capacity."""
        sc, ro = self.scenario, self.schedule.roster
        n_w = len(sc.workers)
        worker_ok = (ro.worker >= 0) & (ro.worker < n_w)
        role_ok = (ro.role >= 0) & (ro.role < len(ROLES))
        at_point = (ro.point >= 0) & (ro.point < self.n_points) & (ro.team == NO_REF)
        at_team = (ro.team >= 0) & (ro.team < self.n_teams) & (ro.point == NO_REF)
        self.roster_ok = worker_ok & role_ok & (at_point | at_team)
        self.roster_at_point = self.roster_ok & at_point
        self.roster_at_team = self.roster_ok & at_team

        shape = (self.n_points, self.n_slots)
        staff = np.zeros((len(ROLES), *shape), dtype=np.int64)
        rows = np.flatnonzero(self.roster_at_point)
        if self.points_rostered and len(rows):
            # One worker counts once per (point, role), over the union of their rows there.
            key = (ro.point[rows].astype(np.int64) * len(ROLES) + ro.role[rows]) * n_w + ro.worker[rows]
            g, s, e = _merge(key, ro.start[rows], ro.end[rows])
            first = np.clip(-(-s // self.slot_s), 0, self.n_slots)  # whole slots only
            last = np.clip(e // self.slot_s, 0, self.n_slots)
            keep = last > first
            pr = g[keep] // n_w  # point * len(ROLES) + role
            diff = np.zeros((self.n_points * len(ROLES), self.n_slots + 1), dtype=np.int64)
            np.add.at(diff, (pr, first[keep]), 1)
            np.add.at(diff, (pr, last[keep]), -1)
            on_duty = np.cumsum(diff, axis=1)[:, : self.n_slots].reshape(self.n_points, len(ROLES), self.n_slots)
            staff = on_duty.transpose(1, 0, 2)
        self.staff = staff
        desks = sc.points.desks.astype(np.int64)[:, None]
        if self.points_rostered:
            self.open_desks = np.minimum(desks, np.minimum(staff[SAMPLE], staff[REGISTER]))
        else:
            self.open_desks = np.broadcast_to(desks, shape)
        st = self.settings
        self.capacity = self.open_desks * st.desk_rate_per_hour * st.slot_minutes // 60

    def utilisation(self) -> float:
        used = self.load > 0
        if not used.any():
            return 0.0
        load, cap = self.load[used], self.capacity[used]
        if (cap == 0).any():
            return math.inf
        return float((load / cap).max())


# -- format -------------------------------------------------------------------------------


def _format(file_problems: Sequence[str]) -> RuleResult:
    found = _Findings()
    for problem in file_problems:
        found.add(problem)
    return found.result("format")


# -- rule 1: coverage ---------------------------------------------------------------------


def _coverage(cx: _Context) -> RuleResult:
    sc, s, found = cx.scenario, cx.schedule, _Findings()
    ids = sc.residents.ids

    bad_mode = np.flatnonzero((s.mode != UNSERVED) & ~cx.served)
    found.add_many(bad_mode, lambda r: f"{cx.resident(r)}: mode {int(s.mode[r])} is neither point nor doorstep")
    malformed = np.flatnonzero(cx.served & ~cx.well_formed)
    found.add_many(
        malformed,
        lambda r: f"{cx.resident(r)}: {MODES[s.mode[r]]} visit without a valid "
        f"{'point' if s.mode[r] == POINT else 'team'}",
    )

    listed = np.zeros(cx.n, dtype=np.int64)
    for u in s.unserved:
        if not 0 <= u.resident < cx.n:
            found.add(f"unserved entry names resident row {u.resident}, which does not exist")
            continue
        listed[u.resident] += 1
        if u.reason not in UNSERVED_REASONS:
            found.add(f"{cx.resident(u.resident)}: unserved reason {u.reason!r} is not one of "
                      f"{', '.join(UNSERVED_REASONS)}")
        if not u.detail.strip():
            found.add(f"{cx.resident(u.resident)}: unserved ({u.reason}) without a detail")
    found.add_many(np.flatnonzero(listed > 1), lambda r: f"{cx.resident(r)}: listed unserved {listed[r]} times")
    both = np.flatnonzero(cx.served & (listed > 0))
    found.add_many(both, lambda r: f"{cx.resident(r)}: served {cx.visit(r)} and also listed unserved")
    silent = np.flatnonzero(~cx.served & (s.mode == UNSERVED) & (listed == 0))
    found.add_many(silent, lambda r: f"{cx.resident(r)}: no visit and not listed unserved")

    household = sc.residents.household
    n_h = len(sc.households)
    size = np.bincount(household, minlength=n_h)
    served = np.bincount(household, weights=cx.served, minlength=n_h).astype(np.int64)
    split = np.flatnonzero((served > 0) & (served < size))
    if len(split):
        members = _members(household, split)

        def word(h: int) -> str:
            out = [ids[r] for r in members[h] if not cx.served[r]]
            return (f"household {sc.households[h]}: {served[h]} of {size[h]} members served, "
                    f"not {', '.join(out)} (a household is served whole or not at all)")

        found.add_many(split, word)
    return found.result("1")


def _members(household: np.ndarray, wanted: np.ndarray) -> dict[int, list[int]]:
    """Resident rows of the first MAX_LISTED wanted households (for wording only)."""
    few = wanted[:MAX_LISTED]
    rows = np.flatnonzero(np.isin(household, few))
    members: dict[int, list[int]] = {int(h): [] for h in few}
    for r in rows.tolist():
        members[int(household[r])].append(r)
    return members


# -- rule 2: households together ----------------------------------------------------------


def _households(cx: _Context) -> RuleResult:
    sc, s, found = cx.scenario, cx.schedule, _Findings()
    rows = np.flatnonzero(cx.served)
    household = sc.residents.household[rows]
    _, first = np.unique(household, return_index=True)
    # The first served member (in resident order) of each household stands for it.
    first_of = np.full(len(sc.households), -1, dtype=np.int64)
    first_of[household[first]] = rows[first]
    ref = first_of[household]
    differs = np.zeros(len(rows), dtype=bool)
    for column in (s.mode, s.point, s.team, s.start, s.end):
        differs |= column[rows] != column[ref]
    bad = rows[differs]
    bad_h, at = np.unique(sc.residents.household[bad], return_index=True)
    found.add_many(
        np.arange(len(bad_h)),
        lambda k: f"household {sc.households[bad_h[k]]}: {cx.resident(int(first_of[bad_h[k]]))} "
        f"{cx.visit(int(first_of[bad_h[k]]))} but {cx.resident(int(bad[at[k]]))} {cx.visit(int(bad[at[k]]))}",
    )
    return found.result("2")


# -- rule 3: zones --------------------------------------------------------------------------


def _zones(cx: _Context) -> RuleResult:
    sc, s, found = cx.scenario, cx.schedule, _Findings()
    pr = cx.point_rows
    p = s.point[pr]
    level, b_comm, b_comp = cx.level[pr], cx.b_comm[pr], cx.b_comp[pr]
    p_comm, p_comp = cx.p_comm[p], sc.points.compound[p]
    own_compound = p_comp == b_comp
    public = (p_comm == NO_REF) & (p_comp == NO_REF)
    may_use = public | ((p_comm == b_comm) & ((p_comp == NO_REF) | own_compound))
    max_walk = sc.settings.max_walk_m
    sealed = level == SEALED
    controlled = level == CONTROLLED
    other = ~sealed & ~controlled
    reasons = np.zeros(len(pr), dtype=np.int8)
    reasons[sealed] = 1
    reasons[controlled & ~own_compound] = 2
    reasons[other & ~may_use] = 3
    reasons[other & may_use & (cx.walk > max_walk + 1e-6)] = 4
    bad = np.flatnonzero(reasons)

    def word(i: int) -> str:
        r = int(pr[i])
        b = int(cx.building[r])
        where = f"{cx.resident(r)} of building {sc.buildings.ids[b]} ({LEVELS[cx.level[r]]})"
        why = {
            1: "sealed residents are sampled at home",
            2: f"controlled residents go only to an in-compound point of compound {sc.compounds[cx.b_comp[r]]}",
            3: "the point does not serve this resident's community or compound",
            4: f"{cx.walk[i]:.0f} m away, more than max_walk_m {max_walk}",
        }[int(reasons[i])]
        return f"{where} {cx.visit(r)}: {why}"

    found.add_many(bad, word)
    return found.result("3")


# -- rule 4: bedridden ----------------------------------------------------------------------


def _bedridden(cx: _Context) -> RuleResult:
    sc, found = cx.scenario, _Findings()
    household = sc.residents.household
    has_bedridden = np.zeros(len(sc.households), dtype=bool)
    has_bedridden[household[(sc.residents.flags & BEDRIDDEN) != 0]] = True
    at_point = np.flatnonzero((cx.schedule.mode == POINT) & has_bedridden[household])
    _, first = np.unique(household[at_point], return_index=True)
    found.add_many(
        at_point[first],
        lambda r: f"household {sc.households[household[r]]} has a bedridden member but "
        f"{cx.resident(r)} is {cx.visit(r)}; it is served at its door",
    )
    return found.result("4")


# -- rule 5: open hours ---------------------------------------------------------------------


def _open_hours(cx: _Context) -> RuleResult:
    sc, s, found = cx.scenario, cx.schedule, _Findings()
    open_slot = slot_masks(sc.points.hours, cx.settings)

    pr = cx.point_rows
    start, end, p = s.start[pr], s.end[pr], s.point[pr]
    in_round = (start >= 0) & (end <= cx.round_s)
    aligned = (start % cx.slot_s == 0) & (end == start + cx.slot_s)
    slot = np.clip(start // cx.slot_s, 0, cx.n_slots - 1)
    is_open = open_slot[p, slot]
    reasons = np.select(
        [~in_round, ~aligned, ~is_open],
        [1, 2, 3],
        0,
    )
    bad = np.flatnonzero(reasons)
    why = {
        1: "outside the round",
        2: f"not one whole {cx.settings.slot_minutes}-minute slot aligned to the round's start",
        3: "the point is not open for the whole slot",
    }
    found.add_many(bad, lambda i: f"{cx.resident(int(pr[i]))} {cx.visit(int(pr[i]))}: {why[int(reasons[i])]}")

    dr = np.flatnonzero(cx.at_door)
    start, end = s.start[dr], s.end[dr]
    d_in_round = (start >= 0) & (end <= cx.round_s)
    d_length = end - start == cx.door_s
    bad = np.flatnonzero(~d_in_round | ~d_length)
    minutes = cx.settings.doorstep_minutes_per_household
    found.add_many(
        bad,
        lambda i: f"{cx.resident(int(dr[i]))} {cx.visit(int(dr[i]))}: "
        + ("outside the round" if not d_in_round[i] else f"a door visit lasts {minutes} minutes"),
    )
    return found.result("5")


# -- rule 6: capacity -----------------------------------------------------------------------


def _capacity(cx: _Context) -> RuleResult:
    sc, st, found = cx.scenario, cx.settings, _Findings()
    desks = sc.points.desks
    over_p, over_k = np.nonzero(cx.load > cx.capacity)
    if cx.points_rostered:
        def staffing(p: int, k: int) -> str:
            return (f"open desks {cx.open_desks[p, k]} (desks {desks[p]}, samplers {cx.staff[SAMPLE, p, k]}, "
                    f"registrars {cx.staff[REGISTER, p, k]} on duty for the whole slot)")
    else:
        def staffing(p: int, k: int) -> str:
            return f"desks {desks[p]}"
    found.add_many(
        np.arange(len(over_p)),
        lambda i: f"{cx.slot(int(over_p[i]), int(over_k[i]))}: {cx.load[over_p[i], over_k[i]]} residents > "
        f"capacity {cx.capacity[over_p[i], over_k[i]]} ({staffing(int(over_p[i]), int(over_k[i]))})",
    )
    if not cx.points_rostered:
        note = (
            "the schedule does not staff its points (no roster, or doorstep teams only): capacity assumes "
            "every desk staffed; lead and order keepers not checked"
        )
        return found.result("6", note)
    used = cx.load > 0
    no_lead_p, no_lead_k = np.nonzero(used & (cx.staff[LEAD] < 1))
    found.add_many(
        np.arange(len(no_lead_p)),
        lambda i: f"{cx.slot(int(no_lead_p[i]), int(no_lead_k[i]))}: "
        f"{cx.load[no_lead_p[i], no_lead_k[i]]} residents but no lead on duty for the whole slot",
    )
    need = np.maximum(1, np.ceil(st.order_keepers_per_desk * cx.open_desks - 1e-9)).astype(np.int64)
    short_p, short_k = np.nonzero(used & (cx.staff[ORDER] < need))
    found.add_many(
        np.arange(len(short_p)),
        lambda i: f"{cx.slot(int(short_p[i]), int(short_k[i]))}: {cx.staff[ORDER, short_p[i], short_k[i]]} "
        f"order keeper(s) on duty, {need[short_p[i], short_k[i]]} needed for "
        f"{cx.open_desks[short_p[i], short_k[i]]} open desk(s)",
    )
    return found.result("6")


# -- rule 7: staff --------------------------------------------------------------------------


def _staff(cx: _Context) -> RuleResult:
    if not cx.schedule.has_roster:
        return RuleResult("7", TITLES["7"], NOT_CHECKED, note="the schedule has no roster")
    sc, st, s, found = cx.scenario, cx.settings, cx.schedule, _Findings()
    ro, wk = s.roster, sc.workers

    def row(i: int) -> str:
        if not cx.roster_ok[i]:
            return f"roster row {i + 1}"
        place = sc.points.ids[ro.point[i]] if ro.point[i] != NO_REF else f"team {s.teams[ro.team[i]]}"
        return f"worker {wk.ids[ro.worker[i]]} ({ROLES[ro.role[i]]} at {place} {cx.span(ro.start[i], ro.end[i])})"

    found.add_many(np.flatnonzero(~cx.roster_ok), lambda i: f"{row(i)}: unknown worker, role or place")
    ok = np.flatnonzero(cx.roster_ok)
    w, role, start, end = ro.worker[ok], ro.role[ok], ro.start[ok], ro.end[ok]

    found.add_many(ok[end <= start], lambda i: f"{row(i)}: ends before it starts")
    skilled = (wk.skills[w].astype(np.int64) >> role) & 1
    found.add_many(
        ok[skilled == 0],
        lambda i: f"{row(i)}: role {ROLES[ro.role[i]]} is not among the skills "
        f"{';'.join(names_of(int(wk.skills[ro.worker[i]]), ROLES)) or '(none)'}",
    )
    at_team = ro.team[ok] != NO_REF
    misplaced = ok[at_team != (role == DOOR)]
    found.add_many(
        misplaced,
        lambda i: f"{row(i)}: " + ("a doorstep team's members have role doorstep" if ro.team[i] != NO_REF
                                   else "role doorstep belongs to a doorstep team, not a point"),
    )

    # Availability: each row lies inside one of the worker's open intervals of the round.
    used = np.unique(w)
    iv_w: list[int] = []
    iv_s: list[int] = []
    iv_e: list[int] = []
    for worker in used.tolist():
        for a, b in cx.in_round(wk.available[worker]):
            iv_w.append(worker)
            iv_s.append(a * 60)
            iv_e.append(b * 60)
    big = np.int64(cx.round_s + 1)
    iv_key = np.array(iv_w, dtype=np.int64) * big + np.array(iv_s, dtype=np.int64)
    iv_end = np.array(iv_e, dtype=np.int64)
    iv_wk = np.array(iv_w, dtype=np.int64)
    clipped = np.clip(start, 0, cx.round_s)
    at = np.searchsorted(iv_key, w.astype(np.int64) * big + clipped, side="right") - 1
    safe = np.clip(at, 0, max(len(iv_key) - 1, 0))
    inside = (start >= 0) & (end <= cx.round_s) & (at >= 0)
    if len(iv_key):
        inside &= (iv_wk[safe] == w) & (iv_end[safe] >= end)
    else:
        inside[:] = False
    found.add_many(
        ok[~inside],
        lambda i: f"{row(i)}: outside the worker's available time {wk.available[ro.worker[i]].text!r} in the round",
    )

    # Community of service (ruling 5).
    w_comm = wk.community[w]
    point_rows = ~at_team
    p_comm = np.full(len(ok), NO_REF, dtype=np.int64)
    p_comm[point_rows] = cx.p_comm[ro.point[ok][point_rows]]
    wrong = point_rows & (w_comm != NO_REF) & (p_comm != w_comm)
    found.add_many(
        ok[wrong],
        lambda i: f"{row(i)}: worker of community {sc.communities[wk.community[ro.worker[i]]]} at a "
        + (f"point of community {sc.communities[cx.p_comm[ro.point[i]]]}" if cx.p_comm[ro.point[i]] != NO_REF
           else "public point"),
    )
    _team_communities(cx, ok[at_team & (w_comm != NO_REF)], found, row)

    # One place and one role at a time.
    rows, earlier = _overlapping(w, start, end)
    found.add_many(
        np.arange(len(rows)),
        lambda i: f"{row(int(ok[rows[i]]))} overlaps {row(int(ok[earlier[i]]))}: one place and one role at a time",
    )

    # Duties: rows that touch (or overlap) form one duty.
    dw, ds, de = _merge(w, start, end)
    max_shift = st.max_shift_hours * 3600
    long = np.flatnonzero(de - ds > max_shift + 1e-6)
    found.add_many(
        long,
        lambda i: f"worker {wk.ids[dw[i]]}: continuous duty {cx.span(ds[i], de[i])} lasts "
        f"{(de[i] - ds[i]) / 3600:g} h, more than max_shift_hours {st.max_shift_hours:g}",
    )
    same = np.flatnonzero(dw[1:] == dw[:-1])
    gap = ds[same + 1] - de[same]
    short = same[gap < st.min_break_minutes * 60]
    found.add_many(
        short,
        lambda i: f"worker {wk.ids[dw[i]]}: break of {(ds[i + 1] - de[i]) / 60:g} min between duties "
        f"{cx.span(ds[i], de[i])} and {cx.span(ds[i + 1], de[i + 1])}, less than min_break_minutes "
        f"{st.min_break_minutes}",
    )

    # Hours per calendar day: duty time split at local midnights.
    if len(dw):
        start_dt = st.start
        midnight = start_dt.replace(hour=0, minute=0, second=0, microsecond=0)
        offset = int((start_dt - midnight).total_seconds())
        first_day = int((ds.min() + offset) // 86400)
        last_day = int((de.max() - 1 + offset) // 86400)
        first_day, last_day = max(first_day, -2), min(last_day, st.days + 2)
        limit = st.max_day_hours * 3600
        n_w = len(wk)
        for day in range(first_day, last_day + 1):
            lo = day * 86400 - offset
            part = np.clip(np.minimum(de, lo + 86400) - np.maximum(ds, lo), 0, None)
            total = np.bincount(dw, weights=part, minlength=n_w)
            over = np.flatnonzero(total > limit + 1e-6)
            date = (midnight + timedelta(days=day)).date().isoformat()
            found.add_many(over, _day_words(wk.ids, total, date, st.max_day_hours))
    return found.result("7")


def _day_words(ids: list[str], total: np.ndarray, date: str, limit: float) -> Callable[[int], str]:
    return lambda x: f"worker {ids[x]}: {total[x] / 3600:g} h on duty on {date}, more than max_day_hours {limit:g}"


def _door_visits(cx: _Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each doorstep household's visit once: (team, start, end, household), sorted by team then start."""
    s, sc = cx.schedule, cx.scenario
    dr = np.flatnonzero(cx.at_door)
    household = sc.residents.household[dr]
    _, first = np.unique(household, return_index=True)
    rows = dr[first]
    team, start, end = s.team[rows].astype(np.int64), s.start[rows], s.end[rows]
    order = np.lexsort((start, team))
    return team[order], start[order], end[order], household[first][order]


def _team_communities(cx: _Context, rows: np.ndarray, found: _Findings, row: Callable[[int], str]) -> None:
    """A worker with a community serves only a team's visits in that community (ruling 5)."""
    if not len(rows):
        return
    sc, ro = cx.scenario, cx.schedule.roster
    team, start, end, household = _door_visits(cx)
    community = sc.buildings.community[sc.household_building[household]]
    bounds = np.searchsorted(team, np.arange(cx.n_teams + 1))
    for i in rows.tolist():
        t = int(ro.team[i])
        a, b = bounds[t], bounds[t + 1]
        during = (start[a:b] < ro.end[i]) & (end[a:b] > ro.start[i])
        other = during & (community[a:b] != sc.workers.community[ro.worker[i]])
        if other.any():
            j = a + int(np.flatnonzero(other)[0])
            found.add(
                f"{row(i)}: worker of community {sc.communities[sc.workers.community[ro.worker[i]]]} while the team "
                f"visits household {sc.households[household[j]]} of community {sc.communities[community[j]]} "
                f"{cx.span(start[j], end[j])}"
            )


# -- rule 8: doorstep -----------------------------------------------------------------------


def _doorstep(cx: _Context) -> RuleResult:
    sc, st, s, found = cx.scenario, cx.settings, cx.schedule, _Findings()
    rt, ro = s.routes, s.roster
    teams, hh = s.teams, sc.households
    door = np.flatnonzero(cx.at_door)
    if len(door) and len(rt) == 0:
        return RuleResult(
            "8", TITLES["8"], NOT_CHECKED,
            note=f"{len(door)} resident(s) served at the door but the schedule has no routes",
        )
    notes: list[str] = []

    valid = (rt.team >= 0) & (rt.team < cx.n_teams) & (rt.household >= 0) & (rt.household < len(hh))
    found.add_many(np.flatnonzero(~valid), lambda i: f"route row {i + 1}: unknown team or household")
    ok = np.flatnonzero(valid)
    team, seq, household = rt.team[ok].astype(np.int64), rt.seq[ok], rt.household[ok]
    arrive, depart = rt.arrive[ok], rt.depart[ok]

    def stop(i: int) -> str:
        j = int(ok[i])
        return (f"team {teams[rt.team[j]]} stop {rt.seq[j]} household {hh[rt.household[j]]} "
                f"{cx.span(rt.arrive[j], rt.depart[j])}")

    # Order of stops: seq 1, 2, 3 … per team.
    order = np.lexsort((seq, team))
    team, seq, household, arrive, depart = (a[order] for a in (team, seq, household, arrive, depart))
    ok = ok[order]
    begins = np.concatenate(([True], team[1:] != team[:-1])) if len(team) else np.zeros(0, dtype=bool)
    group_start = np.maximum.accumulate(np.where(begins, np.arange(len(team)), 0)) if len(team) else begins
    expected = np.arange(len(team)) - group_start + 1
    wrong_seq = seq != expected
    _, first = np.unique(team[wrong_seq], return_index=True)
    positions = np.flatnonzero(wrong_seq)[first]
    found.add_many(
        positions,
        lambda i: f"team {teams[team[i]]}: stop with seq {seq[i]} where {expected[i]} comes next "
        "(seq counts 1, 2, 3 …)",
    )

    # Each stop lasts doorstep_minutes_per_household.
    length = depart - arrive
    found.add_many(
        np.flatnonzero(length != cx.door_s),
        lambda i: f"{stop(i)}: "
        + ("departs before it arrives" if length[i] <= 0 else
           f"lasts {length[i] / 60:g} min, not doorstep_minutes_per_household {st.doorstep_minutes_per_household}"),
    )

    # Walking time between consecutive stops of a team.
    if len(team) > 1:
        nxt = np.flatnonzero(team[1:] == team[:-1]) + 1
        b0, b1 = sc.household_building[household[nxt - 1]], sc.household_building[household[nxt]]
        bl = sc.buildings
        walk_s = haversine_m(bl.lat[b0], bl.lon[b0], bl.lat[b1], bl.lon[b1]) / st.walk_speed_m_per_min * 60
        walk_s[b0 == b1] = 0.0
        early = arrive[nxt] + WALK_ROUNDING_S < depart[nxt - 1] + walk_s
        late = np.flatnonzero(early)
        found.add_many(
            late,
            lambda i: f"{stop(int(nxt[i]))}: arrives {(arrive[nxt[i]] - depart[nxt[i] - 1]) / 60:g} min after "
            f"leaving household {hh[household[nxt[i] - 1]]}, walking takes {walk_s[i] / 60:.2f} min",
        )

    # Members: each team with visits has a doorstep+sample member, whose duty holds every visit.
    visiting = np.zeros(cx.n_teams, dtype=bool)
    visiting[s.team[door]] = True
    visiting[team] = True
    if s.has_roster:
        member = cx.roster_at_team & (ro.role == DOOR)
        member_rows = np.flatnonzero(member)
        qualified = member_rows[
            (sc.workers.skills[ro.worker[member_rows]] & DOOR_AND_SAMPLE) == DOOR_AND_SAMPLE
        ]
        has_member = np.zeros(cx.n_teams, dtype=bool)
        has_member[ro.team[qualified]] = True
        found.add_many(
            np.flatnonzero(visiting & ~has_member),
            lambda t: f"team {teams[t]} makes door visits but no member has both doorstep and sample skills",
        )
        n_w = len(sc.workers)
        key = ro.team[qualified].astype(np.int64) * n_w + ro.worker[qualified]
        g, ds, de = _merge(key, ro.start[qualified], ro.end[qualified])
        dt = g // n_w
        times = np.concatenate((ds, de, arrive, depart, [0, cx.round_s]))
        lo, big = int(times.min()), int(times.max()) + 1
        if len(dt):
            order = np.lexsort((ds, dt))
            dt, ds, de = dt[order], ds[order], de[order]
            key_start = dt * (big - lo) + (ds - lo)
            reach = np.maximum.accumulate(dt * (big - lo) + (de - lo))
            at = np.searchsorted(key_start, team * (big - lo) + (arrive - lo), side="right") - 1
            covered = (at >= 0) & (reach[np.clip(at, 0, None)] >= team * (big - lo) + (depart - lo))
        else:
            covered = np.zeros(len(team), dtype=bool)
        uncovered = np.flatnonzero(~covered & has_member[team])
        found.add_many(
            uncovered,
            lambda i: f"{stop(i)}: not inside the duty of one member with doorstep and sample skills",
        )
    else:
        notes.append("no roster: team members not checked")

    # Routes and assignments agree: each doorstep household is one stop of its team.
    n_h = len(hh)
    stops_of = np.bincount(household, minlength=n_h)
    found.add_many(
        np.flatnonzero(stops_of > 1),
        lambda h: f"household {hh[h]} appears {stops_of[h]} times in routes",
    )
    stop_at = np.full(n_h, -1, dtype=np.int64)
    stop_at[household] = np.arange(len(household))
    res_h = sc.residents.household[door]
    where = stop_at[res_h]
    missing = where < 0
    _, first = np.unique(res_h[missing], return_index=True)
    found.add_many(
        door[missing][first],
        lambda r: f"household {hh[sc.residents.household[r]]} is served at the door "
        f"({cx.resident(r)} {cx.visit(r)}) but appears in no route",
    )
    j = np.clip(where, 0, None)
    differ = np.zeros(len(door), dtype=bool)
    if len(team):
        differ = ~missing & ((s.team[door] != team[j]) | (s.start[door] != arrive[j]) | (s.end[door] != depart[j]))
    found.add_many(
        np.flatnonzero(differ),
        lambda i: f"{cx.resident(int(door[i]))} {cx.visit(int(door[i]))} differs from its household's route "
        f"{stop(int(j[i]))}",
    )
    door_members = np.bincount(res_h, minlength=n_h)
    stray = np.flatnonzero((stops_of > 0) & (door_members < np.bincount(sc.residents.household, minlength=n_h)))
    found.add_many(
        stray,
        lambda h: f"household {hh[h]} is on the route of team {teams[team[stop_at[h]]]} but not every member "
        "is served at the door by a team",
    )
    return found.result("8", "; ".join(notes))


# -- KPIs ---------------------------------------------------------------------------------


def expected_kpis(scenario: Scenario, schedule: Schedule) -> dict[str, Any]:
    """The KPIs the validator recomputes from the schedule (None where it cannot).

    Without a roster, `desks_opened` counts the desks each point's busiest slot needs.
    """
    cx = _Context(scenario, schedule)
    return _recompute(cx)


def _recompute(cx: _Context) -> dict[str, Any]:
    s, sc = cx.schedule, cx.scenario
    door_h = np.unique(sc.residents.household[cx.at_door])
    out: dict[str, Any] = {
        "residents": cx.n,
        "covered": int(cx.served.sum()),
        "walk_m_total": float(cx.walk.sum()),
        "max_slot_utilisation": cx.utilisation(),
        "doorstep_households": len(door_h),
        "desks_opened": None,
        "staff_hours": None,
    }
    if cx.n_slots == 0 or cx.n_points == 0:
        out["desks_opened"] = 0
    elif cx.points_rostered:
        out["desks_opened"] = int(cx.open_desks.max(axis=1).sum())
    else:
        # No roster: the desks a slot needs, the fewest d with floor(d × rate × slot / 60) ≥ load.
        st = cx.settings
        per_slot = st.desk_rate_per_hour * st.slot_minutes
        needed = np.minimum(-(-cx.load * 60 // per_slot), sc.points.desks[:, None])
        out["desks_opened"] = int(needed.max(axis=1).sum())
    if s.has_roster:
        ro = s.roster
        ok = cx.roster_ok
        out["staff_hours"] = float(np.clip(ro.end[ok] - ro.start[ok], 0, None).sum() / 3600)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _kpis(cx: _Context) -> RuleResult:
    found = _Findings()
    kpis = cx.schedule.kpis
    for key in REQUIRED_KPIS:
        if key not in kpis:
            found.add(f"kpis: {key} is missing")
        elif _number(kpis[key]) is None:
            found.add(f"kpis: {key} = {kpis[key]!r} is not a number")
    want = _recompute(cx)
    notes: list[str] = []

    def compare(key: str, tolerance: Callable[[float], float], unit: str = "") -> None:
        got = _number(kpis.get(key))
        expect = want[key]
        if got is None:
            return
        if expect is None:
            notes.append(f"{key} not checked without a roster")
            return
        same = got == expect if math.isinf(expect) else abs(got - expect) <= tolerance(expect)
        if not same:
            found.add(f"kpis: {key} = {got:g}{unit} but the schedule gives {expect:g}{unit}")

    def exact(_: float) -> float:
        return 0.0

    compare("residents", exact)
    compare("covered", exact)
    compare("doorstep_households", exact)
    compare("desks_opened", exact)
    compare("walk_m_total", lambda x: 1.0 + 1e-6 * abs(x), " m")
    compare("max_slot_utilisation", lambda x: 1e-4 + 1e-6 * abs(x))
    compare("staff_hours", lambda x: 0.05 + 1e-6 * abs(x), " h")
    bound = _number(kpis.get("walk_m_lower_bound"))
    if bound is not None and bound > want["walk_m_total"] + 1e-6:
        found.add(f"kpis: walk_m_lower_bound = {bound:g} m exceeds the schedule's walk_m_total "
                  f"{want['walk_m_total']:g} m, so it is no lower bound")
    seconds = _number(kpis.get("solve_seconds"))
    if seconds is not None and seconds < 0:
        found.add(f"kpis: solve_seconds = {seconds:g} is negative")
    return found.result("kpis", "; ".join(notes))


# -- entry points -------------------------------------------------------------------------


def validate(scenario: Scenario, schedule: Schedule, file_problems: Sequence[str] = ()) -> Report:
    """Check every rule of the contract; `file_problems` are what reading the files found."""
    n = len(scenario.residents)
    lengths = {len(a) for a in (schedule.mode, schedule.point, schedule.team, schedule.start, schedule.end)}
    if lengths != {n}:
        problems = [*file_problems, f"schedule arrays hold {sorted(lengths)} rows for {n} residents"]
        return Report([_format(problems), *(
            RuleResult(rule, TITLES[rule], NOT_CHECKED, note="the schedule does not match the scenario")
            for rule in (*"12345678", "kpis")
        )])
    cx = _Context(scenario, schedule)
    return Report([
        _format(file_problems),
        _coverage(cx),
        _households(cx),
        _zones(cx),
        _bedridden(cx),
        _open_hours(cx),
        _capacity(cx),
        _staff(cx),
        _doorstep(cx),
        _kpis(cx),
    ])


def check_folder(scenario: Scenario, folder: Path) -> Report:
    """Read a schedule folder (assignments.csv, roster.csv, routes.csv, kpis.json) and validate it."""
    schedule, problems = read_schedule(scenario, folder)
    if (folder / "kpis.json").exists() and schedule.kpis and not isinstance(schedule.kpis.get("unserved"), list):
        problems.append("kpis.json: unserved is missing or not a list of {resident_id, reason, detail}")
    return validate(scenario, schedule, problems)
