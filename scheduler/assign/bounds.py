"""A proven lower bound on total walking distance.

The transportation relaxation: the same people the schedule serves at points, from
their buildings, to points they may use, within the points' capacity over the round,
split freely (households and slots relaxed). Its optimum, on distances rounded down
to the decimetre, is at most the walking of any schedule serving those people.
"""

from __future__ import annotations

import numpy as np

from scheduler.assign.model import ArcSet, FlowModel, solve_flow
from scheduler.assign.problem import AssignmentProblem

DECIMETRES = 10


def walk_lower_bound(problem: AssignmentProblem, persons_at_points_by_building: np.ndarray) -> float:
    eligible = problem.eligible
    n_buildings = len(persons_at_points_by_building)
    n_points = problem.n_points
    sink = n_buildings + n_points
    supply = np.zeros(sink + 1, dtype=np.int64)
    supply[:n_buildings] = persons_at_points_by_building
    supply[sink] = -int(persons_at_points_by_building.sum())
    walk = ArcSet(
        family="walk",
        tail=eligible.building.astype(np.int64),
        head=n_buildings + eligible.point.astype(np.int64),
        capacity=persons_at_points_by_building[eligible.building].astype(np.int64),
        costs={"walk_dm": np.floor(eligible.distance_m * DECIMETRES).astype(np.int64)},
    )
    points = np.arange(n_points, dtype=np.int64)
    capacity = ArcSet(
        family="capacity",
        tail=n_buildings + points,
        head=np.full(n_points, sink, dtype=np.int64),
        capacity=problem.point_capacity.astype(np.int64),
    )
    result = solve_flow(FlowModel(n_nodes=sink + 1, supply=supply, arc_sets=[walk, capacity]))
    return result.terms["walk_dm"] / DECIMETRES
