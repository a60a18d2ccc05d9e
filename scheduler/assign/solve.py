"""Residents to points and slots: compile, build the flow from its families, solve, pack.

`solve_assignment` assigns with every desk staffed; `scheduler.plan` calls its stages
(`assign_points`, `plan_door_visits`, `assemble`) around the staffing. Door visits are
planned by `scheduler.doorstep` (teams, duties, routes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scheduler.assign import coverage, load, special_groups, stability, walking
from scheduler.assign.bounds import walk_lower_bound
from scheduler.assign.demand import AT_POINT
from scheduler.assign.eligibility import Reach, reach
from scheduler.assign.model import ArcSet, FlowModel, solve_flow
from scheduler.assign.packing import Packing, deal_to_points, pack_slots
from scheduler.assign.problem import AssignmentProblem, compile_problem, full_capacity
from scheduler.domain import NO_REF, Scenario
from scheduler.doorstep import DoorstepPlan, apply_doorstep, plan_doorstep
from scheduler.doorstep.keep import keep_visits, merge
from scheduler.kpis import community_figures, schedule_kpis
from scheduler.limits import DEFAULT_LIMITS, SolverLimits
from scheduler.schedule import POINT, Roster, Schedule, Unserved, changed_visits

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Previous:
    """A published schedule to stay close to: each household's point and slot, NO_REF for none."""

    point: np.ndarray  # int32 per household
    slot: np.ndarray  # int32 per household

    @classmethod
    def of(cls, scenario: Scenario, schedule: Schedule | None) -> Previous:
        """Each household's point and slot in `schedule` (nothing kept when None)."""
        n = len(scenario.households)
        point = np.full(n, NO_REF, dtype=np.int32)
        slot = np.full(n, NO_REF, dtype=np.int32)
        if schedule is None:
            return cls(point=point, slot=slot)
        slot_s = scenario.settings.slot_minutes * 60
        # Only visits that are whole slots of this round count (a schedule of another round
        # or slot length keeps nothing).
        start = schedule.start
        fits = (schedule.mode == POINT) & (start % slot_s == 0) & (start >= 0)
        fits &= start // slot_s < scenario.settings.n_slots
        at_point = np.flatnonzero(fits)
        household = scenario.residents.household[at_point]
        point[household] = schedule.point[at_point]
        slot[household] = start[at_point] // slot_s
        return cls(point=point, slot=slot)


def build_model(problem: AssignmentProblem) -> FlowModel:
    """The flow model: visit arcs carrying walking, special-group and stability terms; load; coverage."""
    cls, point, distance = problem.class_arcs()
    visit_terms = {
        **walking.terms(distance),
        **special_groups.terms(problem, cls, point),
        **stability.terms(problem, cls, point),
    }
    visits = ArcSet(
        family="visit",
        tail=cls,
        head=problem.point_node(point),
        capacity=problem.class_persons[cls],
        costs=visit_terms,
    )
    supply = np.zeros(problem.sink + 1, dtype=np.int64)
    supply[: problem.n_classes] = problem.class_persons
    supply[problem.sink] = -int(problem.class_persons.sum())
    return FlowModel(
        n_nodes=problem.sink + 1, supply=supply, arc_sets=[visits, load.build(problem), coverage.build(problem)]
    )


def solve_assignment(
    scenario: Scenario,
    *,
    previous: Schedule | None = None,
    capacity: np.ndarray | None = None,
    limits: SolverLimits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Schedule:
    """Assign every resident a point and slot, or a door visit, or a reason they cannot be served.

    With `previous` (a published schedule of the same scenario's residents), households
    keep their point and slot wherever the new rules and capacity allow. `capacity`
    (persons per point and slot) defaults to every desk staffed in the open hours; the
    roster then holds the door teams only (`points_staffed` false): `scheduler.plan`
    staffs the points too.

    The min-cost flow is exact and deterministic; the CP-SAT re-packing that households'
    integrality sometimes needs runs with `limits` (seed, time limit, one worker), so
    the same scenario and seed always yield the same schedule.
    """
    began = time.perf_counter()
    step = progress or (lambda message: None)
    step("eligible points")
    reached = reach(scenario)
    kept = Previous.of(scenario, previous)
    visits = assign_points(scenario, reached, capacity, kept, limits, step)
    step("doorstep teams and routes")
    door = plan_door_visits(scenario, reached, previous, limits)
    return assemble(scenario, reached, visits, door, previous=previous, began=began, step=step)


@dataclass(frozen=True)
class PointVisits:
    """Households placed at points and slots by one flow and packing."""

    problem: AssignmentProblem
    packing: Packing
    terms: dict[str, int]


def assign_points(
    scenario: Scenario,
    reached: Reach,
    capacity: np.ndarray | None,
    kept: Previous,
    limits: SolverLimits,
    step: Progress,
) -> PointVisits:
    """The flow and the slot packing for `capacity` persons per (point, slot) (None: every desk staffed)."""
    if capacity is None:
        capacity = full_capacity(scenario, reached.usable)
    problem = compile_problem(scenario, reached.demand, reached.eligible, capacity, kept.point, kept.slot)
    step(f"flow over {problem.n_classes} classes and {len(problem.eligible.point)} building-point pairs")
    model = build_model(problem)
    result = solve_flow(model)
    visits = model.arc_sets[0]
    step("households to slots")
    chosen = deal_to_points(problem, visits.tail, visits.head - problem.n_classes, result.flows["visit"])
    return PointVisits(problem, pack_slots(problem, chosen, limits), dict(result.terms))


def plan_door_visits(
    scenario: Scenario, reached: Reach, previous: Schedule | None, limits: SolverLimits
) -> DoorstepPlan:
    """Teams and routes for every household served at its door; routes under way stay as published."""
    at_door = np.flatnonzero(reached.demand.doorstep != AT_POINT)
    if previous is not None and previous.has_roster and len(previous.routes):
        under_way = keep_visits(scenario, previous, at_door)
        new = np.setdiff1d(at_door, under_way.households)
        return merge(
            scenario, under_way.plan, plan_doorstep(scenario, new, limits=limits, busy=under_way.busy), at_door
        )
    return plan_doorstep(scenario, at_door, limits=limits)


def assemble(
    scenario: Scenario,
    reached: Reach,
    visits: PointVisits,
    door: DoorstepPlan,
    *,
    previous: Schedule | None,
    began: float,
    step: Progress,
    point_roster: Roster | None = None,
    open_desks: np.ndarray | None = None,
    staffed_capacity: np.ndarray | None = None,
    unserved: list[Unserved] | None = None,
) -> Schedule:
    """The schedule of placed households and door visits, with its KPIs.

    With `point_roster` (the staffing's point duties, with the `open_desks` and the
    `staffed_capacity` they give) the schedule claims to staff its points, and its KPIs
    measure against what the staff can sample; `unserved` then replaces the packing's own
    list of households without room.
    """
    problem, packing = visits.problem, visits.packing
    schedule = Schedule.blank(len(scenario.residents))
    at_point = schedule.place_households(
        scenario.residents.household, packing.point, packing.slot, scenario.settings.slot_minutes * 60
    )
    schedule.unserved = unserved_residents(scenario, problem, packing.unplaced) if unserved is None else unserved
    if point_roster is not None:
        schedule.roster = point_roster
    apply_doorstep(scenario, schedule, door)
    schedule.has_roster, schedule.points_staffed = True, point_roster is not None

    step("walking lower bound")
    persons_by_building = np.bincount(scenario.residents.building[at_point], minlength=len(scenario.buildings)).astype(
        np.int64
    )
    bound = walk_lower_bound(problem, persons_by_building)
    objective = dict(visits.terms)
    objective["moved_persons"] //= max(stability.move_cost(problem), 1)
    objective["unserved_persons"] //= coverage.UNSERVED_COST
    if previous is not None:
        objective["changed_visits"] = len(changed_visits(previous, schedule))
    schedule.kpis = schedule_kpis(
        scenario,
        schedule,
        capacity=problem.capacity if staffed_capacity is None else staffed_capacity,
        walk_m_lower_bound=bound,
        solve_seconds=time.perf_counter() - began,
        objective=objective,
        open_desks=open_desks,
    )
    schedule.kpis["doorstep"] = door.kpis
    if log.isEnabledFor(logging.INFO):
        for row in community_figures(scenario, schedule):
            log.info(
                "community %s: %d residents, %d at points (mean walk %.0f m), %d at the door, %d unserved",
                row["community"],
                row["residents"],
                row["at_points"],
                row["walk_m_mean"],
                row["at_door"],
                row["unserved"],
            )
    log.info(
        "assignment: %d residents, %d covered, %d unserved, walk %.0f m (bound %.0f m), %.2f s",
        len(scenario.residents),
        schedule.kpis["covered"],
        len(schedule.unserved),
        schedule.kpis["walk_m_total"],
        bound,
        schedule.kpis["solve_seconds"],
    )
    return schedule


def unserved_residents(scenario: Scenario, problem: AssignmentProblem, no_room: list[int]) -> list[Unserved]:
    """Every resident who cannot be served, with the reason and where it bites."""
    demand = problem.demand
    buildings = scenario.buildings
    max_walk = scenario.settings.max_walk_m
    reasons: dict[int, tuple[str, str]] = {}
    for h in no_room:
        b = int(demand.building[h])
        if problem.eligible.offsets[b] == problem.eligible.offsets[b + 1]:
            community = scenario.communities[buildings.community[b]]
            detail = (
                f"building {buildings.ids[b]} (community {community}): no open point it may use within {max_walk} m"
            )
            reasons[h] = ("no_point_in_reach", detail)
        else:
            names = [scenario.points.ids[p] for p in problem.eligible.point[problem.eligible.of(b)][:5].tolist()]
            reasons[h] = ("no_capacity", f"building {buildings.ids[b]}: every slot of {', '.join(names)} is full")
    household = scenario.residents.household
    rows = np.flatnonzero(np.isin(household, np.fromiter(reasons, dtype=np.int64, count=len(reasons))))
    return [Unserved(r, *reasons[int(household[r])]) for r in rows.tolist()]
