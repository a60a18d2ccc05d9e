"""Even hours within each kind of worker: every slot a worker works beyond one shift costs (`slots_beyond_a_shift`).

Work is spread over peers before anyone takes a second shift, so nobody works eight hours
while a colleague of the same kind at the same point sits idle. A per-worker excess keeps
the model linear and local (a max over the workers of a kind weakens CP-SAT's relaxation
and slowed the search down several times in our measurements).
"""

from __future__ import annotations

import numpy as np

from scheduler.staffing.model import PointModel, Terms


def build(pm: PointModel) -> Terms:
    m, tp = pm.model, pm.templates
    shift = pm.calendar.max_shift_slots
    beyond = []
    for w in np.unique(tp.worker).tolist():
        mine = np.flatnonzero(tp.worker == w).tolist()
        extra = m.new_int_var(0, pm.calendar.n_slots, f"beyond{w}")
        m.add(sum(int(tp.slots[i]) * pm.chosen[i] for i in mine) - shift <= extra)
        beyond.append(extra)
    return {"slots_beyond_a_shift": sum(beyond)}


def evaluate(pm: PointModel, chosen: list[int]) -> dict[str, int]:
    tp = pm.templates
    idx = np.asarray(chosen, dtype=np.int64)
    worked = np.bincount(tp.worker[idx], weights=tp.slots[idx]).astype(np.int64) if len(idx) else np.zeros(0, np.int64)
    return {"slots_beyond_a_shift": int(np.maximum(worked - pm.calendar.max_shift_slots, 0).sum())}
