"""The whole schedule of a scenario: residents' visits, doorstep routes and the staff roster.

This is the entry point the CLI, the API and the workers call. The stages:

1. who goes out and where they may go (`scheduler.assign.eligibility`);
2. door visits: teams, duties, routes (`scheduler.doorstep`), whose duties are then taken;
3. residents to points and slots with every desk staffed (`scheduler.assign`);
4. staff at the points for what that assignment asks (`scheduler.staffing`);
5. where the staff cannot open the desks the assignment wanted, capacity follows the desks
   that can be staffed and the assignment is solved again: residents move to other slots
   and points that have staff. Only households that still find no staffed room are
   unserved, `no_staff`, and the shortfall of their points' communities is reported by
   time and role in `kpis.json` (`staff_shortfall`).

The roster of stage 4 stays valid for the assignment of stage 5, since that assignment
keeps within what the roster staffs.
"""

from __future__ import annotations

import time

import numpy as np

from scheduler.assign.eligibility import reach
from scheduler.assign.problem import full_capacity
from scheduler.assign.solve import (
    Previous,
    Progress,
    assemble,
    assign_points,
    plan_door_visits,
    unserved_residents,
)
from scheduler.domain import NO_REF, Scenario
from scheduler.limits import DEFAULT_LIMITS, SolverLimits
from scheduler.schedule import Roster, Schedule, Unserved
from scheduler.staffing import Staffing, staff_points
from scheduler.staffing.shortfall import PUBLIC

SHORTFALL_LINES_PER_RESIDENT = 3


def solve_schedule(
    scenario: Scenario,
    *,
    previous: Schedule | None = None,
    limits: SolverLimits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    room: np.ndarray | None = None,
    staffed: np.ndarray | None = None,
    busy: np.ndarray | None = None,
) -> Schedule:
    """Every resident's visit, the doorstep routes and the roster, kept close to `previous` when given.

    `room` (points × slots), when given, caps the persons placed at each point and slot; the
    points flagged in `staffed` have their staff on duty already (a re-solve of part of a
    scenario): they take residents up to `room` and get no new duties. `busy` (workers × slots)
    marks slots taken by duties kept from outside the scenario; it holds for point duties only.
    """
    began = time.perf_counter()
    step = progress or (lambda message: None)
    step("eligible points")
    reached = reach(scenario)
    kept = Previous.of(scenario, previous)
    step("doorstep teams and routes")
    door = plan_door_visits(scenario, reached, previous, limits)
    full = full_capacity(scenario, reached.usable)
    if room is not None:
        full = np.minimum(full, room)
    wanted = assign_points(scenario, reached, full, kept, limits, step)
    step("staff at the points")
    published = previous.roster if previous is not None and previous.points_staffed else None
    held = np.zeros(len(scenario.points), dtype=bool) if staffed is None else staffed
    staffing = staff_points(
        scenario,
        np.where(held[:, None], 0, wanted.packing.load),
        busy=busy_slots(scenario, door.roster) if busy is None else busy | busy_slots(scenario, door.roster),
        previous=published,
        limits=limits,
    )
    capacity = np.where(held[:, None], full, staffing.capacity)
    visits = wanted
    if (wanted.packing.load > capacity).any():
        step("residents to the staffed desks")
        visits = assign_points(scenario, reached, np.minimum(full, capacity), kept, limits, step)
    unserved = unserved_residents(scenario, visits.problem, visits.packing.unplaced)
    unserved, short = _no_staff(scenario, unserved, wanted.packing.point, staffing)
    schedule = assemble(
        scenario,
        reached,
        visits,
        door,
        previous=previous,
        began=began,
        step=step,
        point_roster=staffing.roster,
        open_desks=staffing.open_desks,
        staffed_capacity=capacity,
        unserved=unserved,
    )
    schedule.kpis["staff_shortfall"] = short
    schedule.kpis["staffing"] = staffing.kpis(scenario)
    return schedule


def busy_slots(scenario: Scenario, roster: Roster) -> np.ndarray:
    """Bool (workers, slots): slots any part of which a duty of `roster` takes."""
    st = scenario.settings
    slot_s = st.slot_minutes * 60
    busy = np.zeros((len(scenario.workers), st.n_slots + 1), dtype=np.int64)
    first = np.clip(roster.start // slot_s, 0, st.n_slots)
    stop = np.clip(-(-roster.end // slot_s), 0, st.n_slots)
    np.add.at(busy, (roster.worker, first), 1)
    np.add.at(busy, (roster.worker, stop), -1)
    return np.cumsum(busy, axis=1)[:, : st.n_slots] > 0


def _no_staff(
    scenario: Scenario, unserved: list[Unserved], wanted_point: np.ndarray, staffing: Staffing
) -> tuple[list[Unserved], list[dict[str, object]]]:
    """Households the full-desk assignment placed but the staffed one could not: `no_staff`, with the shortfall.

    Returns the unserved list with those reasons replaced, and the shortfall entries of the
    communities (of the points they were meant for) that left someone unserved.
    """
    household = scenario.residents.household
    point_community = scenario.point_community()
    by_community: dict[str, list[str]] = {}
    for entry in staffing.shortfall:
        by_community.setdefault(entry.community, []).append(entry.text(scenario))
    out: list[Unserved] = []
    short_of: set[str] = set()
    for u in unserved:
        p = int(wanted_point[household[u.resident]])
        if p == NO_REF:
            out.append(u)
            continue
        c = int(point_community[p])
        community = PUBLIC if c == NO_REF else scenario.communities[c]
        short_of.add(community)
        lines = by_community.get(community, [])
        more = " …" if len(lines) > SHORTFALL_LINES_PER_RESIDENT else ""
        said = "; ".join(lines[:SHORTFALL_LINES_PER_RESIDENT]) + more
        detail = f"point {scenario.points.ids[p]}: not enough staff on duty to open its desks" + (
            f" ({said})" if said else ""
        )
        out.append(Unserved(u.resident, "no_staff", detail))
    report = [entry.as_dict(scenario) for entry in staffing.shortfall if entry.community in short_of]
    return out, report
