"""A scenario's site-selection problem: buildings' walkers as demand, candidate points as sites.

The rules are the assignment's own (`scheduler.assign.eligibility.reach` on the
scenario with the candidates as its points): sealed buildings and bedridden households
are sampled at the door and need no site; controlled buildings may use only in-compound
points of their own compound; everyone else public points and their own community's
points within `max_walk_m`. Demand is aggregated per building (residents who go to a
point), and may split over sites as the assignment flow splits it. A site holds what its
desks sample in its open slots of the round, every desk staffed (`full_capacity`).
Households staying whole and slot packing are left to the assignment that follows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from scheduler.assign import walking
from scheduler.assign.demand import AT_POINT
from scheduler.assign.eligibility import reach
from scheduler.assign.problem import full_capacity
from scheduler.domain import Scenario
from scheduler.siting.candidates import Candidates
from scheduler.siting.problem import SitingProblem


@dataclass(frozen=True)
class ScenarioSiting:
    """The problem, and what ties its rows back to the scenario."""

    scenario: Scenario  # the scenario with the candidates as its points
    candidates: Candidates
    problem: SitingProblem
    node_building: np.ndarray  # int32 building row of each demand node
    unreachable_persons: int  # walkers of buildings no candidate may serve (left out of the problem)
    unreachable_buildings: int
    door_persons: int  # residents sampled at their door, who need no site


def scenario_problem(scenario: Scenario, candidates: Candidates) -> ScenarioSiting:
    with_candidates = dataclasses.replace(scenario, points=candidates.points)
    reached = reach(with_candidates)
    demand, eligible = reached.demand, reached.eligible
    at_point = demand.doorstep == AT_POINT
    walkers = np.bincount(
        demand.building[at_point], weights=demand.size[at_point], minlength=len(scenario.buildings)
    ).astype(np.int64)
    has_pair = np.diff(eligible.offsets) > 0
    node_building = np.flatnonzero((walkers > 0) & has_pair).astype(np.int32)
    unreachable = (walkers > 0) & ~has_pair
    node_of_building = np.full(len(scenario.buildings), -1, dtype=np.int64)
    node_of_building[node_building] = np.arange(len(node_building))
    pair_node = node_of_building[eligible.building]
    keep = pair_node >= 0
    metres = walking.terms(eligible.distance_m[keep])["walk_m"]
    persons = walkers[node_building]
    capacity = full_capacity(with_candidates, reached.usable).sum(axis=1)
    problem = SitingProblem.build(
        demand=persons,
        capacity=capacity,
        pair_node=pair_node[keep],
        pair_site=eligible.point[keep],
        pair_cost=persons[pair_node[keep]] * metres,
        single_source=False,
        site_names=candidates.points.ids,
        node_names=[scenario.buildings.ids[b] for b in node_building.tolist()],
    )
    return ScenarioSiting(
        scenario=with_candidates,
        candidates=candidates,
        problem=problem,
        node_building=node_building,
        unreachable_persons=int(walkers[unreachable].sum()),
        unreachable_buildings=int(unreachable.sum()),
        door_persons=int(demand.size[~at_point].sum()),
    )
