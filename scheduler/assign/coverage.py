"""Rule 1, coverage: everyone who can be served is; the rest leave through a costly arc.

Each class has an arc straight to the sink that costs more per person than any way
through a point, so the flow serves as many people as capacity allows before it
minimises anything else, and what flows on these arcs is exactly who cannot be served.
"""

from __future__ import annotations

import numpy as np

from scheduler.assign.model import ArcSet
from scheduler.assign.problem import AssignmentProblem

UNSERVED_COST = 10_000_000  # per person; above any walk, penalty and move cost summed


def build(problem: AssignmentProblem) -> ArcSet:
    n = problem.n_classes
    return ArcSet(
        family="unserved",
        tail=np.arange(n, dtype=np.int64),
        head=np.full(n, problem.sink, dtype=np.int64),
        capacity=problem.class_persons.copy(),
        costs={"unserved_persons": np.full(n, UNSERVED_COST, dtype=np.int64)},
    )
