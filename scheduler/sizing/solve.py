"""Staff sizing: how many samplers and cadres to call in so that the round finishes within N hours.

1. The round is cut to `[start, start + N h)` (`RoundSettings.within_hours`).
2. The ledger's staff alone: when their schedule leaves nobody unserved for want of staff,
   nobody is called in.
3. Desks bound (`desks`): the assignment with every desk staffed in that window; whoever it
   cannot place, no staff can serve — the bottleneck is then desks or points.
4. Door teams (`door`): households the door plan leaves unvisited call in door samplers.
5. Points, role by role (`_role_by_role`): the staffing (`scheduler.staffing`, the ledger's
   staff used first) with the roles not yet sized stood in for, and what it still lacks
   per point, role and slot covered by the fewest added shifts (`shifts`, `cover`).
6. Verify: `scheduler.plan.solve_schedule` on the scenario with the called-in workers and
   the cut round; while it leaves residents unserved for want of staff (at most `rounds`
   times), call in what its roster lacks there and solve again. The last schedule is
   checked by `scheduler.validate`: served, unserved by reason, last visit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from scheduler.assign.eligibility import reach
from scheduler.assign.solve import Previous, Progress, assign_points, plan_door_visits
from scheduler.domain import NO_REF, Scenario, slot_masks
from scheduler.doorstep.duties import Calendar
from scheduler.limits import DEFAULT_LIMITS, SolverLimits
from scheduler.plan import busy_slots, solve_schedule
from scheduler.schedule import DOORSTEP, POINT, Schedule
from scheduler.sizing.cover import cover_point
from scheduler.sizing.desks import DeskBound, desk_bound
from scheduler.sizing.door import door_calls, door_gaps
from scheduler.sizing.workers import Call, community_name, hours_text, round_text, with_calls
from scheduler.staffing import staff_points
from scheduler.staffing.capacity import on_duty
from scheduler.staffing.pool import LEAD, ORDER, POINT_ROLES, REGISTER, SAMPLE
from scheduler.staffing.shortfall import PUBLIC, ROLE_WORDS, missing, shortfalls
from scheduler.validate import Report, validate

MAX_ROUNDS = 4  # corrections after the first sizing, each verified
DOOR_ROUNDS = 3  # door plans tried while calling in door samplers
# Roles sized in turn (`_role_by_role`): samplers, the scarcest and costliest, first.
ROLE_ORDER = (SAMPLE, REGISTER, LEAD, ORDER)
BOTTLENECK_LINES = 3
STAFF_REASONS = frozenset({"no_staff", "no_doorstep_team"})  # what called-in workers can fix


@dataclass
class Sizing:
    """The workers to call in, why (the bottleneck), and the verified schedule with them."""

    hours: float
    scenario: Scenario  # the input with the called-in workers, round cut to `hours`
    calls: list[Call]
    desks: DeskBound
    bottleneck: list[str]  # the binding constraint first
    bottleneck_kind: str  # "desks", "door teams", "samplers", "registrars", "order keepers", "leads" or "none"
    schedule: Schedule
    report: Report
    corrections: int  # verified rounds that called in more
    terms: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def added(self) -> int:
        return sum(call.count for call in self.calls)

    def verification(self) -> dict[str, Any]:
        """What the schedule with the called-in workers achieves within the cut round."""
        s, st = self.schedule, self.scenario.settings
        served = (s.mode == POINT) | (s.mode == DOORSTEP)
        reasons: dict[str, int] = {}
        for u in s.unserved:
            reasons[u.reason] = reasons.get(u.reason, 0) + 1
        last = int(s.end[served].max()) if served.any() else 0
        return {
            "residents": len(self.scenario.residents),
            "served": int(served.sum()),
            "unserved": reasons,
            "last_visit_end": st.at(last // 60).isoformat(timespec="minutes"),
            "round_end": st.at(st.round_minutes).isoformat(timespec="minutes"),
            "valid": self.report.ok,
        }

    def figures(self) -> dict[str, Any]:
        by_role: dict[str, int] = {}
        for call in self.calls:
            by_role[call.role] = by_role.get(call.role, 0) + call.count
        return {
            "hours": self.hours,
            "added_workers": self.added,
            "added_by_role": by_role,
            "added_worker_hours": round(sum(c.count * c.minutes for c in self.calls) / 60, 1),
            "calls": [
                {
                    "role": c.role,
                    "kind": c.kind,
                    "skills": c.skills,
                    "community": community_name(self.scenario, c.community),
                    "available": c.available,
                    "workers": c.count,
                }
                for c in self.calls
            ],
            "bottleneck_kind": self.bottleneck_kind,
            "bottleneck": self.bottleneck,
            "desk_bound_residents": self.desks.persons,
            "verification": self.verification(),
            "corrections": self.corrections,
            "objective": self.terms,
            "seconds": round(self.seconds, 3),
        }


def size_staff(
    scenario: Scenario,
    hours: float,
    *,
    limits: SolverLimits = DEFAULT_LIMITS,
    rounds: int = MAX_ROUNDS,
    progress: Progress | None = None,
) -> Sizing:
    """The fewest workers to call in so that every resident who can be is served within `hours`.

    Raises ValueError when `hours` is not positive or shorter than one slot.
    """
    began = time.perf_counter()
    step = progress or (lambda message: None)
    # Never longer than the round already is (a what-if fork may have cut it shorter).
    hours_left = min(hours, scenario.settings.round_minutes / 60)
    current = replace(scenario, settings=scenario.settings.within_hours(hours_left))
    if current.settings.n_slots == 0:
        raise ValueError(f"a round of {hours:g} h is shorter than one {current.settings.slot_minutes}-minute slot")
    step("every desk staffed")
    reached = reach(current)
    wanted = assign_points(current, reached, None, Previous.of(current, None), limits, step)
    load = wanted.packing.load
    desks = desk_bound(current, wanted)
    open_slots = slot_masks(current.points.hours, current.settings)
    calls: list[Call] = []
    terms: dict[str, int] = {}
    gaps: dict[int, int] = {}
    lack = (np.zeros((len(current.points), len(POINT_ROLES), current.settings.n_slots), dtype=np.int64),) * 2
    step("the ledger's staff")
    schedule = solve_schedule(current, limits=limits)
    done = 0
    if _short_of_staff(schedule):
        door_plan = None
        for attempt in range(DOOR_ROUNDS):
            step(f"door teams ({attempt + 1})")
            door_plan = plan_door_visits(current, reached, None, limits)
            found = door_gaps(current, door_plan)
            gaps = gaps or found
            if not found or attempt == DOOR_ROUNDS - 1:
                break
            new = door_calls(current, found)
            calls.extend(new)
            current = with_calls(current, new)
        assert door_plan is not None
        step("staff at the points, role by role")
        new, lack = _role_by_role(current, load, busy_slots(current, door_plan.roster), open_slots, limits, terms)
        calls.extend(new)
        current = with_calls(current, new)
        while True:
            step(f"verify ({done + 1})")
            schedule = solve_schedule(current, limits=limits)
            if done == rounds or not _short_of_staff(schedule):
                break
            done += 1
            new = _corrections(current, schedule, lack[0], open_slots, limits, terms)
            if not new:
                break
            calls.extend(new)
            current = with_calls(current, new)
    kind, lines = _bottleneck(current, hours, desks, gaps, lack)
    return Sizing(
        hours=hours,
        scenario=current,
        calls=_merged(calls),
        desks=desks,
        bottleneck=lines,
        bottleneck_kind=kind,
        schedule=schedule,
        report=validate(current, schedule),
        corrections=done,
        terms=terms,
        seconds=time.perf_counter() - began,
    )


def _short_of_staff(schedule: Schedule) -> bool:
    """Someone is unserved for want of staff at a point or of a door team."""
    return any(u.reason in STAFF_REASONS for u in schedule.unserved)


def _corrections(
    scenario: Scenario,
    schedule: Schedule,
    need: np.ndarray,
    open_slots: np.ndarray,
    limits: SolverLimits,
    terms: dict[str, int],
) -> list[Call]:
    """More calls where the verified schedule still leaves residents unserved for want of staff.

    Door samplers for the communities with `no_doorstep_team` households; at the points of the
    communities `staff_shortfall` names, shifts covering what the schedule's roster lacks.
    """
    household = scenario.residents.household
    door_left: dict[int, set[int]] = {}
    for u in schedule.unserved:
        if u.reason == "no_doorstep_team":
            b = int(scenario.residents.building[u.resident])
            door_left.setdefault(int(scenario.buildings.community[b]), set()).add(int(household[u.resident]))
    calls = door_calls(scenario, {c: len(h) for c, h in door_left.items()})
    short = {entry["community"] for entry in schedule.kpis.get("staff_shortfall", [])}
    if short and any(u.reason == "no_staff" for u in schedule.unserved):
        community = scenario.point_community()
        names = np.array([PUBLIC if c == NO_REF else scenario.communities[c] for c in community.tolist()])
        lacking = missing(need, on_duty(scenario, schedule.roster))
        lacking[:, ~np.isin(names, sorted(short))] = 0
        calls.extend(_point_calls(scenario, lacking, open_slots, limits, terms))
    return calls


def _role_by_role(
    scenario: Scenario,
    load: np.ndarray,
    busy: np.ndarray,
    open_slots: np.ndarray,
    limits: SolverLimits,
    terms: dict[str, int],
) -> tuple[list[Call], tuple[np.ndarray, np.ndarray]]:
    """Calls for each role in turn, the roles after it stood in for by ample stand-ins.

    A slot opens only with a sampler, a registrar, a lead and order keepers, so the staff's
    shortfall of one role hides the others' use: with no sampler, no registrar is rostered.
    Each role's lack is therefore measured with the roles not yet sized made ample (stand-in
    workers, never called in) and the calls of the roles before it added. Returns the calls
    and (need, lack) per (roles, points, slots): what the staff truly lack, role by role.
    """
    calls: list[Call] = []
    lack = np.zeros((len(POINT_ROLES), *load.shape), dtype=np.int64)
    need = np.zeros((len(scenario.points), len(POINT_ROLES), load.shape[1]), dtype=np.int64)
    for k, r in enumerate(ROLE_ORDER):
        sized = with_calls(scenario, calls)
        stand_ins = _stand_ins(sized, load, open_slots, ROLE_ORDER[k + 1 :])
        trial = with_calls(sized, stand_ins)
        padded = np.zeros((len(trial.workers), busy.shape[1]), dtype=bool)
        padded[: len(busy)] = busy
        staffing = staff_points(trial, load, busy=padded, limits=limits)
        need = staffing.need
        lack[r] = missing(need, staffing.staff)[r]
        only = np.zeros_like(lack)
        only[r] = lack[r]
        calls.extend(_point_calls(sized, only, open_slots, limits, terms))
    return calls, (need, lack)


def _stand_ins(scenario: Scenario, load: np.ndarray, open_slots: np.ndarray, roles: tuple[int, ...]) -> list[Call]:
    """Ample workers of `roles` for every point with residents: the most the point needs at once, for every
    shift its open hours take, available the whole round, serving the point's community."""
    st = scenario.settings
    shift_slots = max(1, int(st.max_shift_hours * 60 + 1e-9) // st.slot_minutes)
    desks = st.desks_for(load)
    used = load > 0
    community = scenario.point_community()
    count: dict[tuple[int, int], int] = {}
    for p in np.flatnonzero(used.any(axis=1)).tolist():
        shifts = -(-int(open_slots[p].sum()) // shift_slots) + 1
        most = int(desks[p].max())
        for r in roles:
            at_once = 1 if POINT_ROLES[r] == "lead" else most
            key = (r, int(community[p]))
            count[key] = count.get(key, 0) + at_once * shifts
    text = round_text(st)
    minutes = st.round_minutes
    return [Call(POINT_ROLES[r], c, text, minutes, n) for (r, c), n in sorted(count.items())]


def _point_calls(
    scenario: Scenario, lacking: np.ndarray, open_slots: np.ndarray, limits: SolverLimits, terms: dict[str, int]
) -> list[Call]:
    """Shifts covering `lacking` (roles, points, slots) at each point, as calls for the point's community."""
    calendar = Calendar(scenario)
    community = scenario.point_community()
    calls = []
    for p in np.flatnonzero(lacking.any(axis=(0, 2))).tolist():
        shifts, values = cover_point(calendar, p, open_slots[p], lacking[:, p, :], limits)
        for name, value in values.items():
            terms[name] = terms.get(name, 0) + value
        for s in shifts:
            minutes = sum(b - a for a, b in s.duties) * scenario.settings.slot_minutes
            text = hours_text(scenario.settings, s.duties)
            calls.append(Call(POINT_ROLES[s.role], int(community[p]), text, minutes, s.count))
    return calls


def _merged(calls: list[Call]) -> list[Call]:
    """Equal calls (role, community, hours) added up, in a fixed order."""
    counts: dict[tuple[str, int, str, int], int] = {}
    for c in calls:
        key = (c.role, c.community, c.available, c.minutes)
        counts[key] = counts.get(key, 0) + c.count
    order = ("sample", "register", "order", "lead", "doorstep")
    keys = sorted(counts, key=lambda k: (order.index(k[0]), k[1], k[2]))
    return [Call(role, c, text, minutes, counts[(role, c, text, minutes)]) for role, c, text, minutes in keys]


def _bottleneck(
    scenario: Scenario,
    hours: float,
    desks: DeskBound,
    gaps: dict[int, int],
    lack: tuple[np.ndarray, np.ndarray],
) -> tuple[str, list[str]]:
    """What binds, most binding first: desks (staff cannot help), door teams, then the roles the staff lack most."""
    lines: list[str] = []
    kind = "none"
    if desks.persons:
        lines.append(desks.text(hours))
        kind = "desks"
    if gaps:
        lines.append(
            "door teams: "
            + ", ".join(f"community {scenario.communities[c]} {n} households" for c, n in sorted(gaps.items()))
            + f" not visited within {hours:g} h"
        )
        kind = "door teams" if kind == "none" else kind
    if lack[1].any():
        need, short = lack
        found = shortfalls(scenario, need, need.transpose(1, 0, 2) - short)
        found.sort(key=lambda s: (-(s.stop - s.first) * s.workers, s.community, s.role, s.first))
        if kind == "none":
            kind = ROLE_WORDS[POINT_ROLES[int(np.argmax(short.sum(axis=(1, 2))))]]
        lines.extend(s.text(scenario) for s in found[:BOTTLENECK_LINES])
    return kind, lines or [f"none: the staff on the ledger finish the round within {hours:g} h"]
