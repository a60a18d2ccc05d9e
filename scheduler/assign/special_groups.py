"""Special groups (elderly living alone, disabled, pregnant) go to accessible points.

A class with a special member pays a penalty per person at a point without step-free
access; within a point, their households are given the least crowded slots (packing).
"""

from __future__ import annotations

import numpy as np

from scheduler.assign.problem import Problem

# Metres-equivalent per person: a special household would rather walk this much further.
INACCESSIBLE_PENALTY = 400


def terms(problem: Problem, cls: np.ndarray, point: np.ndarray) -> dict[str, np.ndarray]:
    inaccessible = problem.class_special[cls] & ~problem.scenario.points.accessible[point]
    return {"special_inaccessible": inaccessible.astype(np.int64) * INACCESSIBLE_PENALTY}
