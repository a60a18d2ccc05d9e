"""From person flows to whole households in whole slots.

The flow says how many people of each class go to each point; households are never
split, so each class's households are dealt out to its points (largest household
first, to the point with the most flow left), then each point's households are laid
into its open slots: households kept from a previous schedule first, then regular
households building by building filling the slots evenly in time order, then special
groups into the least crowded slots. A household that finds no room is offered the
other points it may use, nearest first, then a point whose free places suffice is
re-packed exactly (CP-SAT; at most REPACK_ATTEMPTS tries per packing); only then is it
reported as without capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.assign.problem import AssignmentProblem
from scheduler.assign.repack import repack
from scheduler.domain import NO_REF
from scheduler.limits import SolverLimits

# Exact re-packings one packing may try. Each re-packs a whole point's slots with CP-SAT;
# under the staffed capacity of a short-staffed area thousands of households may overflow,
# and without a cap the packing would spend minutes placing a few of them.
REPACK_ATTEMPTS = 20


@dataclass
class Packing:
    point: np.ndarray  # int32 per household, NO_REF when not placed at a point
    slot: np.ndarray  # int32 per household
    load: np.ndarray  # int64 (points, slots) persons placed
    unplaced: list[int]  # households that wanted a point and found no room


def deal_to_points(problem: AssignmentProblem, cls: np.ndarray, point: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Each household's point, following the class flows as closely as whole households allow."""
    n_households = len(problem.demand.size)
    chosen = np.full(n_households, NO_REF, dtype=np.int32)
    used = flow > 0
    cls, point, flow = cls[used], point[used], flow[used]
    arc_order = np.argsort(cls, kind="stable")
    cls, point, flow = cls[arc_order], point[arc_order], flow[arc_order]
    arc_bounds = np.searchsorted(cls, np.arange(problem.n_classes + 1))

    members = np.flatnonzero(problem.household_class != NO_REF)
    size = problem.demand.size
    # Within a class: largest households first, ties by household order (deterministic).
    member_order = np.lexsort((members, -size[members], problem.household_class[members]))
    members = members[member_order]
    member_bounds = np.searchsorted(problem.household_class[members], np.arange(problem.n_classes + 1))

    for c in range(problem.n_classes):
        lo, hi = arc_bounds[c], arc_bounds[c + 1]
        if lo == hi:
            continue
        points = point[lo:hi].tolist()
        left = flow[lo:hi].tolist()
        previous = int(problem.class_previous_point[c])
        keep = points.index(previous) if previous in points else -1
        for h in members[member_bounds[c] : member_bounds[c + 1]].tolist():
            s = int(size[h])
            if keep >= 0 and left[keep] >= s:
                k = keep
            else:
                k = max(range(len(left)), key=left.__getitem__)
                if left[k] <= 0:
                    continue  # the flow sent no more of this class to any point
            left[k] -= s
            chosen[h] = points[k]
    return chosen


def pack_slots(problem: AssignmentProblem, chosen: np.ndarray, limits: SolverLimits) -> Packing:
    """Lay each point's households into its open slots, then re-home whoever did not fit."""
    demand = problem.demand
    size, special = demand.size, demand.special
    capacity = problem.capacity
    n_points, n_slots = capacity.shape
    load = np.zeros((n_points, n_slots), dtype=np.int64)
    slot = np.full(len(size), NO_REF, dtype=np.int32)
    point_of = np.full(len(size), NO_REF, dtype=np.int32)
    overflow: list[int] = []

    open_slots_of = [np.flatnonzero(row) for row in capacity]
    placed = np.flatnonzero(chosen != NO_REF)
    keeps = (problem.previous_point[placed] == chosen[placed]) & (problem.previous_slot[placed] != NO_REF)
    # Per point: kept households first, then regular by building, then special groups.
    group = np.where(keeps, 0, np.where(special[placed], 2, 1))
    order = np.lexsort((placed, demand.building[placed], group, chosen[placed]))
    placed, group = placed[order], group[order]
    bounds = np.searchsorted(chosen[placed], np.arange(n_points + 1))

    for p in range(n_points):
        households = placed[bounds[p] : bounds[p + 1]]
        if not len(households):
            continue
        open_slots = open_slots_of[p]
        cap = capacity[p]
        kinds = group[bounds[p] : bounds[p + 1]]
        # Fill slots in time order up to an even share of the regular households, by capacity.
        regular_persons = int(size[households[kinds < 2]].sum())
        goal = np.minimum(cap, -(-regular_persons * cap // max(int(cap.sum()), 1)))
        cursor = 0
        for h, kind in zip(households.tolist(), kinds.tolist(), strict=True):
            s = int(size[h])
            t = NO_REF
            if kind == 0:
                wanted = int(problem.previous_slot[h])
                if wanted != NO_REF and load[p, wanted] + s <= cap[wanted]:
                    t = wanted
            if t == NO_REF and kind < 2:
                while cursor < len(open_slots) and load[p, open_slots[cursor]] + s > goal[open_slots[cursor]]:
                    cursor += 1
                if cursor < len(open_slots):
                    t = int(open_slots[cursor])
            if t == NO_REF:
                t = _least_loaded(load[p], cap, open_slots, s)
            if t == NO_REF:
                overflow.append(h)
                continue
            load[p, t] += s
            slot[h], point_of[h] = t, p

    unplaced: list[int] = []
    eligible = problem.eligible
    repacks_left = max(1, round(REPACK_ATTEMPTS * limits.repack_share))
    for h in sorted(overflow + np.flatnonzero((chosen == NO_REF) & (problem.household_class != NO_REF)).tolist()):
        s = int(size[h])
        candidates = eligible.point[eligible.of(int(demand.building[h]))].tolist()
        for p in candidates:
            t = _least_loaded(load[p], capacity[p], open_slots_of[p], s)
            if t != NO_REF:
                load[p, t] += s
                slot[h], point_of[h] = t, p
                break
        else:
            fitted = False
            for p in candidates:
                if repacks_left <= 0:
                    break
                if _room(problem, p, h, open_slots_of[p], load):
                    repacks_left -= 1
                    if _repack_into(problem, p, h, open_slots_of[p], load, slot, point_of, limits):
                        fitted = True
                        break
            if not fitted:
                unplaced.append(h)
    return Packing(point=point_of, slot=slot, load=load, unplaced=unplaced)


def _repack_into(
    problem: AssignmentProblem,
    p: int,
    h: int,
    open_slots: np.ndarray,
    load: np.ndarray,
    slot: np.ndarray,
    point_of: np.ndarray,
    limits: SolverLimits,
) -> bool:
    """Fit household h at point p by re-packing p's households exactly (CP-SAT); True if it fits."""
    size = problem.demand.size
    cap = problem.capacity[p, open_slots]
    members = np.append(np.flatnonzero(point_of == p), h)
    current = slot[members].copy()
    current[-1] = NO_REF
    packed = repack(size[members], current, cap, open_slots, limits)
    if packed is None:
        return False
    slot[members] = packed
    point_of[h] = p
    load[p] = np.bincount(packed, weights=size[members], minlength=load.shape[1]).astype(np.int64)
    return True


def _room(problem: AssignmentProblem, p: int, h: int, open_slots: np.ndarray, load: np.ndarray) -> bool:
    """Point p has places enough for household h over all its slots (else no re-packing can help)."""
    free = problem.capacity[p, open_slots] - load[p, open_slots]
    return int(free.sum()) >= int(problem.demand.size[h])


def _least_loaded(load: np.ndarray, cap: np.ndarray, open_slots: np.ndarray, size: int) -> int:
    """The open slot least full (by share of its capacity) that still has room for `size`; earliest on ties."""
    if not len(open_slots):
        return NO_REF
    loads, caps = load[open_slots], cap[open_slots]
    fits = loads + size <= caps
    if not fits.any():
        return NO_REF
    share = np.where(fits, loads / caps, np.inf)
    return int(open_slots[int(np.argmin(share))])
