"""Even load, no crowd at the desks: a convex cost on how full a point runs.

A point's capacity over the round is cut into pieces at 80 % and 90 %; each piece
above 80 % costs more per person than the one before, so load above 80 % is penalised
more than proportionally and a resident near a full point walks a little further to
an emptier one. The costs stay below most walking differences, because walking ranks
above an even load. Within a point, slots are filled evenly by the packing.
"""

from __future__ import annotations

import numpy as np

from scheduler.assign.model import ArcSet
from scheduler.assign.problem import AssignmentProblem

# (upper fraction of capacity, metres-equivalent per person in that piece)
PIECES: tuple[tuple[float, int], ...] = ((0.8, 0), (0.9, 10), (1.0, 40))


def build(problem: AssignmentProblem) -> ArcSet:
    capacity = problem.point_capacity
    points = np.arange(problem.n_points, dtype=np.int64)
    tails, caps, costs = [], [], []
    below = np.zeros(problem.n_points, dtype=np.int64)
    for fraction, cost in PIECES:
        upto = np.floor(capacity * fraction).astype(np.int64) if fraction < 1 else capacity
        tails.append(problem.point_node(points))
        caps.append(upto - below)
        costs.append(np.full(problem.n_points, cost, dtype=np.int64))
        below = upto
    tail = np.concatenate(tails)
    return ArcSet(
        family="load",
        tail=tail,
        head=np.full(len(tail), problem.sink, dtype=np.int64),
        capacity=np.concatenate(caps),
        costs={"crowding": np.concatenate(costs)},
    )
