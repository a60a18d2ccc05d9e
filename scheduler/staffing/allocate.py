"""One home point per worker, so that the per-point models are small and independent.

Greedy by marginal cover: roles are taken scarcest first (supply over need in
worker-slots); each worker who can fill the role goes to the allowed point where their
free slots meet the most uncovered need, and that need is then counted as covered for as
many slots as a day's duty allows. Workers without a community go to public points
first, which only they may staff. A re-solve first sends workers back to the point they
staffed before. Whatever the greedy leaves uncovered is for the point models to squeeze
and, beyond that, for the shortfall report.
"""

from __future__ import annotations

import numpy as np

from scheduler.domain import NO_REF
from scheduler.staffing.pool import Pool


def role_need(desks: np.ndarray, order_keepers: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Workers needed per (point, POINT_ROLES, slot)."""
    return np.stack([desks, desks, order_keepers, used.astype(np.int64)], axis=1)


def allocate(pool: Pool, need: np.ndarray, day_slots: int, previous_home: np.ndarray | None = None) -> np.ndarray:
    """Home point row per worker (NO_REF: not needed anywhere); `need` is (points, roles, slots)."""
    n_workers = len(pool.can)
    home = np.full(n_workers, NO_REF, dtype=np.int64)
    residual = need.copy()
    public = pool.point_community == NO_REF
    useful = np.asarray(pool.can.any(axis=1) & pool.free.any(axis=1))

    def cover(w: int, p: int, roles: np.ndarray) -> None:
        home[w] = p
        for r in roles:
            open_need = np.flatnonzero((residual[p, r] > 0) & pool.free[w])
            if len(open_need):
                residual[p, r, open_need[:day_slots]] -= 1
                return

    if previous_home is not None:
        for w in np.flatnonzero(useful & (previous_home != NO_REF)):
            p = int(previous_home[w])
            if pool.allowed(int(w))[p] and need[p].any():
                cover(int(w), p, np.flatnonzero(pool.can[w]))

    supply = (pool.can * np.minimum(pool.free.sum(axis=1), day_slots)[:, None]).sum(axis=0)
    demand = need.sum(axis=(0, 2))
    scarcity = supply / np.maximum(demand, 1)
    specialists_first = np.lexsort((np.arange(n_workers), pool.can.sum(axis=1)))
    for r in np.argsort(scarcity, kind="stable"):
        if demand[r] == 0:
            continue
        for w in specialists_first:
            if home[w] != NO_REF or not useful[w] or not pool.can[w, r]:
                continue
            allowed = pool.allowed(int(w))
            if pool.community[w] == NO_REF and (allowed & public).any():
                allowed = public
            p = _best(residual[:, r, :] > 0, allowed, pool.free[w])
            if p != NO_REF:
                cover(int(w), p, np.array([r]))
    # Last pass: anyone still free goes where any of their roles has need left.
    for w in specialists_first:
        if home[w] != NO_REF or not useful[w]:
            continue
        wanted = np.asarray((residual[:, pool.can[w], :] > 0).any(axis=1))
        p = _best(wanted, pool.allowed(int(w)), pool.free[w])
        if p != NO_REF:
            cover(int(w), p, np.flatnonzero(pool.can[w]))
    return home


def _best(wanted: np.ndarray, allowed: np.ndarray, free: np.ndarray) -> int:
    """The allowed point (row) whose wanted slots meet the most free slots; NO_REF when none does."""
    value = np.where(allowed, (wanted & free).sum(axis=1), 0)
    best = int(np.argmax(value))
    return best if value[best] > 0 else NO_REF

