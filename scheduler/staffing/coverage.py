"""Coverage: open desks in each slot, each with its sampler and registrar, under a lead and order keepers.

A slot is either open (a lead on duty, at least one order keeper, and order keepers for
every sampler on duty: max(1, ceil(order_keepers_per_desk × open desks)) follows, since
open desks never exceed samplers) or closed (no residents may come). Open desks count
towards two terms: the desk-slots the point's residents need over the whole round
(`desk_slots_short`: residents can be moved to another slot of the point, not beyond) and
the desks of each slot as the assignment planned them (`slot_desks_short`).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from scheduler.staffing.model import PointModel, Terms
from scheduler.staffing.pool import LEAD, ORDER, REGISTER, SAMPLE


def build(pm: PointModel) -> Terms:
    m = pm.model
    ratio = Fraction(pm.order_per_desk).limit_denominator(1000)
    opened = []
    slot_short = []
    for t in pm.open_slots.tolist():
        samplers = sum(pm.covering(SAMPLE, t))
        registrars = sum(pm.covering(REGISTER, t))
        keepers = sum(pm.covering(ORDER, t))
        leads = sum(pm.covering(LEAD, t))
        open_t = m.new_int_var(0, pm.desks, f"open{t}")
        closed = m.new_bool_var(f"closed{t}")
        m.add(open_t <= samplers)
        m.add(open_t <= registrars)
        m.add(open_t + pm.desks * closed <= pm.desks)
        m.add(leads + closed >= 1)
        m.add(keepers + closed >= 1)
        # order keepers ≥ ratio × samplers whenever the slot is open
        m.add(ratio.denominator * keepers >= ratio.numerator * samplers - ratio.numerator * pm.desks * closed)
        opened.append(open_t)
        need = int(pm.need[t])
        if need:
            short = m.new_int_var(0, need, f"short{t}")
            m.add(short >= need - open_t)
            slot_short.append(short)
    total = int(pm.need.sum())
    volume_short = m.new_int_var(0, total, "volume_short")
    m.add(volume_short >= total - sum(opened))
    return {"desk_slots_short": volume_short, "slot_desks_short": sum(slot_short)}


def evaluate(pm: PointModel, chosen: list[int]) -> dict[str, int]:
    """The two terms for the roster of templates `chosen`, as the model counts them (a slot opens when it may)."""
    tp = pm.templates
    on = np.zeros((4, pm.calendar.n_slots + 1), dtype=np.int64)
    idx = np.asarray(chosen, dtype=np.int64)
    np.add.at(on, (tp.role[idx], tp.first[idx]), 1)
    np.add.at(on, (tp.role[idx], tp.stop[idx]), -1)
    on = np.cumsum(on, axis=1)[:, :-1]
    ratio = Fraction(pm.order_per_desk).limit_denominator(1000)
    ready = (on[LEAD] >= 1) & (on[ORDER] >= 1) & (ratio.denominator * on[ORDER] >= ratio.numerator * on[SAMPLE])
    opened = np.where(ready, np.minimum(np.minimum(on[SAMPLE], on[REGISTER]), pm.desks), 0)
    opened[~np.isin(np.arange(len(opened)), pm.open_slots)] = 0
    return {
        "desk_slots_short": max(0, int(pm.need.sum() - opened.sum())),
        "slot_desks_short": int(np.maximum(pm.need - opened, 0).sum()),
    }
