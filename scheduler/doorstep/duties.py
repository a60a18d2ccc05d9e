"""Workers' calendars in slots: when each may still start a duty, and the duties rule 7 allows.

A duty here is a run of whole slots `[a, b)` (slot-aligned, as the brief for doorstep
teams asks). A new duty is only ever placed at least `min_break_minutes` (rounded up to
whole slots, at least one slot) away from anything the worker already does, so it is
always a duty of its own: it never touches an earlier row and merges with it (ruling 6).
It then keeps rule 7 when it is
- inside `available` (every slot wholly inside one open interval of the round),
- no longer than `max_shift_hours` (whole slots),
- within `max_day_hours` per calendar day, counting what the worker already does,
- clear of the `busy` slots (taken elsewhere) and of this planner's earlier duties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scheduler.domain import RoundSettings, Scenario, slot_masks


@dataclass(frozen=True)
class Duty:
    worker: int  # row in scenario.workers
    first: int  # first slot
    stop: int  # slot after the last

    @property
    def slots(self) -> int:
        return self.stop - self.first


class Calendar:
    """What every worker may still do in the round, slot by slot."""

    def __init__(self, scenario: Scenario, busy: np.ndarray | None = None) -> None:
        st = self.settings = scenario.settings
        n_w, n_s = len(scenario.workers), st.n_slots
        self.n_slots = n_s
        self.slot_minutes = st.slot_minutes
        self.available = slot_masks(scenario.workers.available, st)
        if busy is None:
            self.occupied = np.zeros((n_w, n_s), dtype=bool)
        else:
            if busy.shape != (n_w, n_s):
                raise ValueError(f"busy has shape {busy.shape}, expected workers × slots {(n_w, n_s)}")
            self.occupied = busy.astype(bool).copy()
        self.max_shift_slots = int(st.max_shift_hours * 60 + 1e-9) // st.slot_minutes
        self.break_slots = max(1, math.ceil(st.min_break_minutes / st.slot_minutes))
        self.day_limit = st.max_day_hours * 60
        self.day_minutes = _day_minutes(st)  # (n_slots, n_days) minutes of each slot in each calendar day

    # -- questions ------------------------------------------------------------------------

    def free(self, w: int) -> np.ndarray:
        """Slots in which worker `w` may be on a new duty: available, and a break away from the rest."""
        occupied = self.occupied[w]
        near = occupied.copy()
        for k in range(1, self.break_slots + 1):
            near[k:] |= occupied[:-k]
            near[:-k] |= occupied[k:]
        return self.available[w] & ~near

    def day_used(self, w: int) -> np.ndarray:
        """Minutes of duty per calendar day the worker already has."""
        return self.occupied[w].astype(np.float64) @ self.day_minutes

    def can_take(self, w: int, first: int, stop: int) -> bool:
        """Worker `w` may take the duty `[first, stop)` on top of what they already do."""
        if not 0 <= first < stop <= self.n_slots or stop - first > self.max_shift_slots:
            return False
        if not self.free(w)[first:stop].all():
            return False
        used = self.day_used(w) + self.day_minutes[first:stop].sum(axis=0)
        return bool((used <= self.day_limit + 1e-6).all())

    def candidates(self, w: int, min_slots: int = 1) -> list[Duty]:
        """The earliest duties worker `w` could still work, one after the other, all compatible.

        Greedy from the round's start: each duty as long as a shift (or until the worker is
        no longer free, or the day's hours are used up), then a break. Runs shorter than
        `min_slots` are skipped.
        """
        free = self.free(w)
        used = self.day_used(w)
        per_slot = self.day_minutes
        duties: list[Duty] = []
        s = 0
        while s < self.n_slots:
            if not free[s] or (used + per_slot[s] > self.day_limit + 1e-6).any():
                s += 1
                continue
            first = s
            added = np.zeros_like(used)
            while (
                s < self.n_slots
                and free[s]
                and s - first < self.max_shift_slots
                and not (used + added + per_slot[s] > self.day_limit + 1e-6).any()
            ):
                added += per_slot[s]
                s += 1
            if s - first >= min_slots:
                duties.append(Duty(w, first, s))
                used = used + added
                s += self.break_slots
            s = max(s, first + 1)  # always move on, even when no slot could be taken (a shift shorter than a slot)
        return duties

    # -- changes --------------------------------------------------------------------------

    def take(self, w: int, first: int, stop: int) -> None:
        self.occupied[w, first:stop] = True


def _day_minutes(st: RoundSettings) -> np.ndarray:
    """Minutes of each slot falling in each local calendar day touched by the round."""
    offset = st.start_minute_of_day
    lo = offset + np.arange(st.n_slots) * st.slot_minutes  # minutes since the first midnight
    hi = lo + st.slot_minutes
    n_days = int((offset + st.round_minutes) // 1440) + 2
    day_start = np.arange(n_days) * 1440
    overlap = np.minimum(hi[:, None], day_start[None, :] + 1440) - np.maximum(lo[:, None], day_start[None, :])
    return np.clip(overlap, 0, None).astype(np.float64)
