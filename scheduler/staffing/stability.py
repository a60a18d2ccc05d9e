"""Stability: a re-solve keeps the published roster where it can.

Every slot that differs from the published roster costs one (`changed_duty_slots`): a new
slot on duty, and a published slot (worker, role, point) dropped or shortened away. Duties
as they were cost nothing, and the search of a re-solve starts from them
(`published_duties`).
"""

from __future__ import annotations

import numpy as np

from scheduler.staffing.model import PointModel, Terms


def build(pm: PointModel) -> Terms:
    if pm.previous is None:
        return {}
    change = _change(pm)
    kept_off = sum(int(mask.sum()) for mask in pm.previous.values())
    return {"changed_duty_slots": kept_off + sum(int(c) * pm.chosen[i] for i, c in enumerate(change) if c)}


def evaluate(pm: PointModel, chosen: list[int]) -> dict[str, int]:
    """`changed_duty_slots` of the roster of templates `chosen`."""
    if pm.previous is None:
        return {}
    kept_off = sum(int(mask.sum()) for mask in pm.previous.values())
    return {"changed_duty_slots": kept_off + int(_change(pm)[chosen].sum())}


def _change(pm: PointModel) -> np.ndarray:
    """Per template: its new slots less the published slots it keeps.

    A worker's chosen templates of one role never overlap, so the published slots no chosen
    template keeps plus the new slots is the sum of these over the chosen templates, plus
    every published slot.
    """
    assert pm.previous is not None
    tp = pm.templates
    change = np.zeros(len(tp), dtype=np.int64)
    for i in range(len(tp)):
        before = pm.previous.get((int(tp.worker[i]), int(tp.role[i])))
        a, b = int(tp.first[i]), int(tp.stop[i])
        kept = 0 if before is None else int(before[a:b].sum())
        change[i] = (b - a - kept) - kept
    return change


def published_duties(pm: PointModel) -> list[int]:
    """Templates that are whole duties of the published roster and still keep rule 7 together.

    This is where the search of a re-solve starts. A published duty whose template no
    longer exists (the worker is now busy then) is gone already; one that would take the
    worker past `max_day_hours` next to duties added since (a new door team) is left out too.
    """
    if pm.previous is None:
        return []
    tp, cal = pm.templates, pm.calendar
    out = []
    room: dict[int, np.ndarray] = {}
    for i in np.lexsort((tp.first, tp.worker)).tolist():
        w, a, b = int(tp.worker[i]), int(tp.first[i]), int(tp.stop[i])
        before = pm.previous.get((w, int(tp.role[i])))
        if before is None or not _was_duty(before, a, b):
            continue
        left = room.setdefault(w, cal.day_limit - cal.day_used(w))
        minutes = cal.day_minutes[a:b].sum(axis=0)
        if (minutes <= left + 1e-6).all():
            room[w] = left - minutes
            out.append(i)
    return out


def _was_duty(before: np.ndarray, a: int, b: int) -> bool:
    """`[a, b)` was one whole duty before: on duty throughout, off duty just before and after."""
    return bool(before[a:b].all()) and (a == 0 or not before[a - 1]) and (b == len(before) or not before[b])
