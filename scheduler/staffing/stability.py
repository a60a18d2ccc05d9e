"""Stability: a re-solve keeps the published roster where it can.

Each slot of a chosen duty that the worker did not work in that role at this point before
costs one (`changed_duty_slots`); duties as they were cost nothing, and the search of a
re-solve starts from them (`published_duties`).
"""

from __future__ import annotations

import numpy as np

from scheduler.staffing.model import PointModel, Terms


def build(pm: PointModel) -> Terms:
    if pm.previous is None:
        return {}
    tp = pm.templates
    cost = []
    for i in range(len(tp)):
        key = (int(tp.worker[i]), int(tp.role[i]))
        before = pm.previous.get(key)
        a, b = int(tp.first[i]), int(tp.stop[i])
        new = b - a if before is None else int((~before[a:b]).sum())
        if new:
            cost.append(new * pm.chosen[i])
    return {"changed_duty_slots": sum(cost)}


def evaluate(pm: PointModel, chosen: list[int]) -> dict[str, int]:
    """`changed_duty_slots` of the roster of templates `chosen`."""
    if pm.previous is None:
        return {}
    tp = pm.templates
    changed = 0
    for i in chosen:
        before = pm.previous.get((int(tp.worker[i]), int(tp.role[i])))
        a, b = int(tp.first[i]), int(tp.stop[i])
        changed += b - a if before is None else int((~before[a:b]).sum())
    return {"changed_duty_slots": changed}


def published_duties(pm: PointModel) -> list[int]:
    """Templates that are whole duties of the published roster (where the search starts a re-solve)."""
    if pm.previous is None:
        return []
    tp = pm.templates
    out = []
    for i in range(len(tp)):
        before = pm.previous.get((int(tp.worker[i]), int(tp.role[i])))
        if before is not None and _was_duty(before, int(tp.first[i]), int(tp.stop[i])):
            out.append(i)
    return out


def _was_duty(before: np.ndarray, a: int, b: int) -> bool:
    """`[a, b)` was one whole duty before: on duty throughout, off duty just before and after."""
    return bool(before[a:b].all()) and (a == 0 or not before[a - 1]) and (b == len(before) or not before[b])
