"""Route first, split second: cut a walking tour of households into one stretch per team duty.

Households in tour order (a building's households in a row) are dealt out in stretches,
one per duty in the order the duties can start, each duty taking the next households
until it would end after a finish time `T`; the earliest `T` that places every household
is found by bisection. When no `T` places them all, the duties are filled to their ends
and the tail of the tour is left over. Since door time dominates walking, this balances
the teams' loads to within one visit; the router then polishes the stretches.
"""

from __future__ import annotations

import numpy as np

from scheduler.doorstep.routing import Vehicle


def _runs(places: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive equal places: (place, length) per run."""
    if not len(places):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cut = np.flatnonzero(places[1:] != places[:-1]) + 1
    starts = np.concatenate(([0], cut))
    return places[starts].astype(np.int64), np.diff(np.concatenate((starts, [len(places)])))


def _fill(
    run_place: np.ndarray, run_len: np.ndarray, vehicles: list[Vehicle], walk: np.ndarray, visit_s: int, limit: int
) -> tuple[list[int], int, int]:
    """Deal households to vehicles in order, none past `limit`: (households per vehicle, placed, finish)."""
    counts: list[int] = []
    r, used, placed, finish = 0, 0, 0, 0  # run index, households of run r already dealt
    places, lengths = run_place.tolist(), run_len.tolist()
    for veh in vehicles:
        t, prev, k = veh.ready, veh.at, 0
        cap = min(limit, veh.end)
        while r < len(places):
            p = places[r]
            step = int(walk[prev, p]) if prev >= 0 and prev != p else 0
            fit = (cap - t - step) // visit_s
            if fit <= 0:
                break
            take = min(fit, lengths[r] - used)
            t += step + take * visit_s
            prev, k, used = p, k + take, used + take
            if used == lengths[r]:
                r, used = r + 1, 0
        counts.append(k)
        placed += k
        if k:
            finish = max(finish, t)
    return counts, placed, finish


def split_tour(places: np.ndarray, vehicles: list[Vehicle], walk: np.ndarray, visit_s: int) -> tuple[list[int], int]:
    """Households per vehicle (consecutive stretches of the tour, `places` per household) and the finish.

    Vehicles are taken in the order given.
    """
    run_place, run_len = _runs(places)
    total = int(run_len.sum())
    if not vehicles or total == 0:
        return [0] * len(vehicles), 0
    lo = min(v.ready for v in vehicles)
    hi = max(v.end for v in vehicles)
    counts, placed, finish = _fill(run_place, run_len, vehicles, walk, visit_s, hi)
    if placed < total:
        return counts, finish
    while lo < hi:
        mid = (lo + hi) // 2
        if _fill(run_place, run_len, vehicles, walk, visit_s, mid)[1] == total:
            hi = mid
        else:
            lo = mid + 1
    counts, _, finish = _fill(run_place, run_len, vehicles, walk, visit_s, hi)
    return counts, finish
