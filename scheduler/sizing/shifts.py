"""Shift patterns an added worker could work: one duty, or two duties a break apart (rule 7).

A duty is a run of whole slots inside one open run of the point (clipped to the round),
starting and ending on the hour marks duties use (`scheduler.staffing.templates.grain`)
or at the run's edges, at most `max_shift_hours` long. A second duty starts at least
`min_break_minutes` (whole slots) after the first ends, and the two together fit
`max_day_hours` in every calendar day. The pattern is what the added worker's
availability will say, so the staffing can roster exactly it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.doorstep.duties import Calendar
from scheduler.staffing.templates import grain, runs


@dataclass(frozen=True)
class Patterns:
    duties: list[tuple[tuple[int, int], ...]]  # per pattern: its duties [a, b) in slots
    cover: np.ndarray  # bool (patterns, slots): on duty for the whole slot

    def __len__(self) -> int:
        return len(self.duties)

    @property
    def slots(self) -> np.ndarray:
        return self.cover.sum(axis=1)


def duty_spans(calendar: Calendar, open_slots: np.ndarray) -> list[tuple[int, int]]:
    """Every single duty `[a, b)` inside one open run, on the marks, no longer than a shift, fitting a day."""
    step = grain(calendar.slot_minutes)
    longest = calendar.max_shift_slots
    spans: list[tuple[int, int]] = []
    for a0, b0 in runs(open_slots):
        marks = [t for t in range(a0, b0 + 1) if t % step == 0 or t in (a0, b0)]
        for j, a in enumerate(marks):
            for b in marks[j + 1 :]:
                if b - a > longest:
                    break
                spans.append((a, b))
    return [s for s in spans if _fits_day(calendar, (s,))]


def shift_patterns(calendar: Calendar, open_slots: np.ndarray, needed: np.ndarray) -> Patterns:
    """Patterns covering some `needed` slot: every single duty, and each full-shift duty followed, after
    the break, by a second duty starting at the first mark it may."""
    spans = [s for s in duty_spans(calendar, open_slots) if needed[s[0] : s[1]].any()]
    patterns: list[tuple[tuple[int, int], ...]] = [(s,) for s in spans]
    starts = sorted({a for a, _ in spans})
    for first in spans:
        if first[1] - first[0] != calendar.max_shift_slots:
            continue
        after = [a for a in starts if a >= first[1] + calendar.break_slots]
        if not after:
            continue
        for second in spans:
            within_a_day = (second[1] - first[0]) * calendar.slot_minutes <= 1440  # one hours text, no overlap
            if second[0] == after[0] and within_a_day and _fits_day(calendar, (first, second)):
                patterns.append((first, second))
    cover = np.zeros((len(patterns), calendar.n_slots), dtype=bool)
    for i, pattern in enumerate(patterns):
        for a, b in pattern:
            cover[i, a:b] = True
    return Patterns(duties=patterns, cover=cover)


def _fits_day(calendar: Calendar, duties: tuple[tuple[int, int], ...]) -> bool:
    minutes = sum(calendar.day_minutes[a:b].sum(axis=0) for a, b in duties)
    return bool((np.asarray(minutes) <= calendar.day_limit + 1e-6).all())
