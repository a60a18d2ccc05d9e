"""Duty templates: the duties a worker could work at a point, each a run of whole slots.

A template lies inside one run of slots in which the worker is free (available, clear of
door duties and their breaks) and the point is open; it is at most `max_shift_hours` long
and fits the worker's day hours on its own. Duties start and end on the hour (on the
round's slot grid, every `60 / slot_minutes` slots) or where such a run starts or ends,
and last at least half a shift unless the run is shorter: fragments nobody wants to work
are left out, which keeps the models small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.doorstep.duties import Calendar


@dataclass(frozen=True)
class Templates:
    worker: np.ndarray  # int64 row in scenario.workers
    role: np.ndarray  # int64 index into POINT_ROLES
    first: np.ndarray  # int64 first slot
    stop: np.ndarray  # int64 slot after the last

    def __len__(self) -> int:
        return len(self.worker)

    @property
    def slots(self) -> np.ndarray:
        return self.stop - self.first


def grain(slot_minutes: int) -> int:
    """Slots between the hour marks duties start and end on (1 when an hour is no whole number of slots)."""
    return 60 // slot_minutes if 60 % slot_minutes == 0 and slot_minutes < 60 else 1


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs `[a, b)` of True in a boolean row."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def templates_for(
    calendar: Calendar, workers: np.ndarray, roles: np.ndarray, free: np.ndarray, open_slots: np.ndarray
) -> Templates:
    """Templates of each worker (rows of `workers`) for each role they may fill (`roles`: bool workers × roles)."""
    step = grain(calendar.slot_minutes)
    longest = calendar.max_shift_slots
    shortest = max(1, longest // 2)
    day_minutes = calendar.day_minutes
    cols: list[list[int]] = [[], [], [], []]
    for i, w in enumerate(workers):
        w = int(w)
        room = calendar.day_limit - calendar.day_used(w) + 1e-6
        spans: list[tuple[int, int]] = []
        for a0, b0 in runs(free[i] & open_slots):
            marks = [t for t in range(a0, b0 + 1) if t % step == 0 or t in (a0, b0)]
            for j, a in enumerate(marks):
                for b in marks[j + 1 :]:
                    if b - a > longest:
                        break
                    if b - a < min(shortest, b0 - a0):
                        continue
                    if (day_minutes[a:b].sum(axis=0) <= room).all():
                        spans.append((a, b))
        for r in np.flatnonzero(roles[i]):
            for a, b in spans:
                cols[0].append(w)
                cols[1].append(int(r))
                cols[2].append(a)
                cols[3].append(b)
    return Templates(*(np.array(c, dtype=np.int64) for c in cols))
