"""Who fills which role: medical staff sample; cadres, community workers and volunteers register, keep order and lead.

A medical worker on another role, anyone else sampling, or a volunteer leading costs one
per slot (`kind_mismatch_slots`): allowed by their skills, but the pool is better used the
other way round.
"""

from __future__ import annotations

from scheduler.domain import KINDS
from scheduler.staffing.model import PointModel, Terms
from scheduler.staffing.pool import LEAD, SAMPLE

MEDICAL = KINDS.index("medical")
VOLUNTEER = KINDS.index("volunteer")


def mismatch(kind: int, role: int) -> bool:
    if role == SAMPLE:
        return kind != MEDICAL
    return kind == MEDICAL or (role == LEAD and kind == VOLUNTEER)


def build(pm: PointModel) -> Terms:
    tp = pm.templates
    cost = [
        int(tp.slots[i]) * pm.chosen[i]
        for i in range(len(tp))
        if mismatch(int(pm.kind[i]), int(tp.role[i]))
    ]
    return {"kind_mismatch_slots": sum(cost)}


def evaluate(pm: PointModel, chosen: list[int]) -> dict[str, int]:
    tp = pm.templates
    return {
        "kind_mismatch_slots": sum(
            int(tp.slots[i]) for i in chosen if mismatch(int(pm.kind[i]), int(tp.role[i]))
        )
    }
