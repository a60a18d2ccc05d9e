"""The staff pool: who may fill which point role, where, and in which slots (rule 7, ruling 5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.domain import NO_REF, SKILL_BIT, Scenario
from scheduler.doorstep.duties import Calendar

# The roles of a point, in the order the models index them.
POINT_ROLES: tuple[str, ...] = ("sample", "register", "order", "lead")
SAMPLE, REGISTER, ORDER, LEAD = range(len(POINT_ROLES))


@dataclass
class Pool:
    calendar: Calendar  # availability, breaks and day hours; door duties already taken
    can: np.ndarray  # bool (workers, POINT_ROLES): skills
    free: np.ndarray  # bool (workers, slots): may be on a new point duty
    community: np.ndarray  # int32 per worker, NO_REF: may serve anywhere
    point_community: np.ndarray  # int64 per point, NO_REF: public point
    open: np.ndarray  # bool (points, slots): slot wholly inside the point's hours

    def allowed(self, w: int) -> np.ndarray:
        """Points worker `w` may staff: their community's, or any for a worker without one."""
        if self.community[w] == NO_REF:
            return np.ones(len(self.point_community), dtype=bool)
        return np.asarray(self.point_community == self.community[w])


def staff_pool(scenario: Scenario, busy: np.ndarray | None, open_slots: np.ndarray) -> Pool:
    """The pool with `busy` (workers × slots) worker-slots taken elsewhere (door duties)."""
    calendar = Calendar(scenario, busy)
    workers = scenario.workers
    can = np.stack([(workers.skills & SKILL_BIT[role]) != 0 for role in POINT_ROLES], axis=1)
    can = can.reshape(len(workers), len(POINT_ROLES))
    free = np.zeros((len(workers), scenario.settings.n_slots), dtype=bool)
    for w in np.flatnonzero(can.any(axis=1)):
        free[w] = calendar.free(int(w))
    return Pool(
        calendar=calendar,
        can=can,
        free=free,
        community=workers.community,
        point_community=scenario.point_community(),
        open=open_slots,
    )
