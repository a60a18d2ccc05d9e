"""Shift covering: the fewest added workers whose shifts cover what a point's staff lack.

Classic shift scheduling, one small CP-SAT model per point: an integer count of added
workers per (role, shift pattern), and for every slot and role at least as many of them
on duty as the existing staff fall short (`scheduler.staffing.shortfall.missing`). Named
terms: `added_workers` (weighted by role: a sampler, medical staff, is the scarcest) and
`added_worker_slots` (no longer shifts than the gap needs). Seeded, one search thread,
time-limited; a greedy cover is the start and the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from scheduler.doorstep.duties import Calendar
from scheduler.limits import SolverLimits
from scheduler.sizing.shifts import Patterns, shift_patterns
from scheduler.staffing.pool import POINT_ROLES

# An added worker of the role costs this many added worker-slots' worth: workers first, then hours.
ROLE_COST = {"sample": 3, "register": 2, "order": 2, "lead": 2}
SLOTS_PER_WORKER = 1000
WEIGHTS = {"added_workers": SLOTS_PER_WORKER, "added_worker_slots": 1}
DETERMINISTIC_S = 2.0


@dataclass(frozen=True)
class Shift:
    """`count` workers of `role` added for `point`, each on the duties of one pattern."""

    point: int
    role: int  # index into POINT_ROLES
    duties: tuple[tuple[int, int], ...]  # [a, b) in slots
    count: int


def cover_point(
    calendar: Calendar, p: int, open_slots: np.ndarray, missing: np.ndarray, limits: SolverLimits
) -> tuple[list[Shift], dict[str, int]]:
    """Added shifts covering `missing` (POINT_ROLES, slots) workers at point `p`; with the terms' values."""
    shifts: list[Shift] = []
    terms = {"added_workers": 0, "added_worker_slots": 0}
    for r in np.flatnonzero(missing.any(axis=1)).tolist():
        need = missing[r]
        patterns = shift_patterns(calendar, open_slots, need > 0)
        counts = _solve(patterns, need, limits, ROLE_COST[POINT_ROLES[r]])
        for i in np.flatnonzero(counts).tolist():
            shifts.append(Shift(p, r, patterns.duties[i], int(counts[i])))
        terms["added_workers"] += ROLE_COST[POINT_ROLES[r]] * int(counts.sum())
        terms["added_worker_slots"] += int((counts * patterns.slots).sum())
    return shifts, terms


def _solve(patterns: Patterns, need: np.ndarray, limits: SolverLimits, cost: int) -> np.ndarray:
    """Workers per pattern: every slot's `need` covered, fewest workers, then fewest slots."""
    start = _greedy(patterns, need)
    slots = np.flatnonzero(need > 0)
    m = cp_model.CpModel()
    top = int(need.max())
    x = [m.new_int_var(0, top, f"x{i}") for i in range(len(patterns))]
    for t in slots.tolist():
        m.add(sum(x[i] for i in np.flatnonzero(patterns.cover[:, t]).tolist()) >= int(need[t]))
    workers = sum(x)
    worker_slots = sum(int(s) * v for s, v in zip(patterns.slots.tolist(), x, strict=True))
    m.minimize(WEIGHTS["added_workers"] * cost * workers + WEIGHTS["added_worker_slots"] * worker_slots)
    for v, n in zip(x, start.tolist(), strict=True):
        m.add_hint(v, n)
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = limits.seed
    solver.parameters.num_workers = 1
    solver.parameters.max_deterministic_time = DETERMINISTIC_S
    solver.parameters.max_time_in_seconds = limits.time_limit_s
    status = solver.solve(m)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return np.array([solver.value(v) for v in x], dtype=np.int64)
    return start


def _greedy(patterns: Patterns, need: np.ndarray) -> np.ndarray:
    """A cover: repeatedly the pattern meeting the most still-uncovered worker-slots."""
    counts = np.zeros(len(patterns), dtype=np.int64)
    left = need.astype(np.int64).copy()
    cover = patterns.cover.astype(np.int64)
    while (left > 0).any():
        gain = cover @ (left > 0)
        best = int(np.argmax(gain))
        if gain[best] == 0:
            break
        counts[best] += 1
        left -= cover[best]
    return counts
