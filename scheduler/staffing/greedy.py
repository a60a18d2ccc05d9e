"""A quick roster of one point, template by template: the hint the point's CP-SAT model starts from.

Slot by slot in time order and role by role (lead, samplers, registrars, order keepers),
while the slot is short of what its residents need, take the free template of that role
that covers the slot and the most still-needed slots after it, and does not clash with
the worker's other chosen duties (break, day hours).
"""

from __future__ import annotations

import math

import numpy as np

from scheduler.staffing.model import PointModel
from scheduler.staffing.pool import LEAD, ORDER, REGISTER, SAMPLE


def greedy_duties(pm: PointModel) -> list[int]:
    """Indices of the chosen templates."""
    tp, cal = pm.templates, pm.calendar
    n_s = cal.n_slots
    desks = pm.need.astype(np.int64)
    target = np.zeros((4, n_s), dtype=np.int64)
    target[SAMPLE] = target[REGISTER] = desks
    target[LEAD] = desks > 0
    target[ORDER] = np.where(desks > 0, np.maximum(1, np.ceil(pm.order_per_desk * desks - 1e-9)), 0)
    on = np.zeros((4, n_s), dtype=np.int64)
    busy_until: dict[int, np.ndarray] = {}  # worker → bool per slot: chosen duties stretched by the break on both sides
    day_left: dict[int, np.ndarray] = {}
    chosen: list[int] = []
    skills = pm.skills
    reach = cal.break_slots
    for t in np.flatnonzero(desks > 0).tolist():
        for role in (LEAD, SAMPLE, REGISTER, ORDER):
            while on[role, t] < target[role, t]:
                best, best_gain = -1, 0
                for i in pm.on_duty.get((role, t), ()):
                    w, a, b = int(tp.worker[i]), int(tp.first[i]), int(tp.stop[i])
                    taken = busy_until.get(w)
                    if taken is not None and taken[a:b].any():
                        continue
                    left = day_left.get(w)
                    minutes = cal.day_minutes[a:b].sum(axis=0)
                    if left is not None and (minutes > left + 1e-6).any():
                        continue
                    # needed slots covered, less the length and the worker's other skills (keep generalists)
                    gain = int((on[role, a:b] < target[role, a:b]).sum()) * 4 - (b - a) - 2 * int(skills[i])
                    if gain > best_gain:
                        best, best_gain = i, gain
                if best < 0:
                    break
                w, a, b = int(tp.worker[best]), int(tp.first[best]), int(tp.stop[best])
                chosen.append(best)
                on[role, a:b] += 1
                taken = busy_until.setdefault(w, np.zeros(n_s, dtype=bool))
                taken[max(0, a - reach) : min(n_s, b + reach)] = True
                if w not in day_left:
                    day_left[w] = cal.day_limit - cal.day_used(w)
                day_left[w] = day_left[w] - cal.day_minutes[a:b].sum(axis=0)
            if role == SAMPLE:
                # order keepers follow the samplers actually on duty (ceil(ratio × samplers))
                target[ORDER, t] = max(target[ORDER, t], math.ceil(pm.order_per_desk * on[SAMPLE, t] - 1e-9))
    return chosen

