"""Stability when re-solving a published schedule: moving a household costs.

The cost is set above any walking gain (more than twice `max_walk_m`), so a re-solve
moves only the households it must (a closed point, a new zone) and keeps everyone else.
"""

from __future__ import annotations

import numpy as np

from scheduler.assign.problem import AssignmentProblem
from scheduler.domain import NO_REF


def move_cost(problem: AssignmentProblem) -> int:
    return 2 * problem.scenario.settings.max_walk_m + 1000


def terms(problem: AssignmentProblem, cls: np.ndarray, point: np.ndarray) -> dict[str, np.ndarray]:
    previous = problem.class_previous_point[cls]
    moved = (previous != NO_REF) & (previous != point)
    return {"moved_persons": moved.astype(np.int64) * move_cost(problem)}
