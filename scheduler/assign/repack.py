"""CP-SAT, where households' integrality bites: re-pack one point's slots to fit a household.

The packing fills slots household by household; when a household finds every slot of
every point it may use too full for it although a point has enough free places in all,
the places are scattered over slots. This re-packs that point's households (and the
newcomer) into its open slots exactly, moving as few of them as possible.
"""

from __future__ import annotations

import numpy as np
from ortools.sat.python import cp_model

from scheduler.limits import SolverLimits

REPACK_DETERMINISTIC_S = 0.5  # a point's households, a few thousand booleans: ample for a feasible re-packing


def repack(
    sizes: np.ndarray, current: np.ndarray, capacity: np.ndarray, slots: np.ndarray, limits: SolverLimits
) -> np.ndarray | None:
    """Slots for households of `sizes` among `slots`, at most `capacity[k]` persons in `slots[k]`.

    `current` is each household's slot now (NO_REF for the newcomer). Returns the new
    slot per household, moving the fewest, or None when no packing exists or none was
    found within the time limit.
    """
    model = cp_model.CpModel()
    n, m = len(sizes), len(slots)
    x = [[model.new_bool_var(f"h{h}_s{t}") for t in range(m)] for h in range(n)]
    for h in range(n):
        model.add_exactly_one(x[h])
    for t in range(m):
        model.add(sum(int(sizes[h]) * x[h][t] for h in range(n)) <= int(capacity[t]))
    stays = []
    for h, slot in enumerate(current.tolist()):
        if slot in slots:
            k = int(np.flatnonzero(slots == slot)[0])
            stays.append(x[h][k])
            model.add_hint(x[h][k], True)
    model.maximize(sum(stays))
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = limits.seed
    # The deterministic limit decides (same input, same answer); the wall clock is only a guard.
    solver.parameters.max_deterministic_time = min(limits.time_limit_s, REPACK_DETERMINISTIC_S)
    solver.parameters.max_time_in_seconds = limits.time_limit_s * 10
    solver.parameters.num_workers = limits.workers
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return np.array([slots[next(t for t in range(m) if solver.value(x[h][t]))] for h in range(n)], dtype=np.int32)
