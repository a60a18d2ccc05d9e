"""What the staff on duty can sample, point by point and slot by slot (rule 6, rulings 3 and 4).

The same reading as the validator's: open desks = min(desks, samplers, registrars) on
duty for the whole slot; a slot may take residents only with a lead and
max(1, ceil(order_keepers_per_desk × open desks)) order keepers on duty, else none.
"""

from __future__ import annotations

import numpy as np

from scheduler.domain import Scenario
from scheduler.schedule import ROLES, Roster
from scheduler.staffing.pool import LEAD, ORDER, POINT_ROLES, REGISTER, SAMPLE


def on_duty(scenario: Scenario, roster: Roster) -> np.ndarray:
    """Workers on duty for the whole slot, per (POINT_ROLES, points, slots), from point rows of `roster`."""
    st = scenario.settings
    n_p, n_s = len(scenario.points), st.n_slots
    slot_s = st.slot_minutes * 60
    out = np.zeros((len(POINT_ROLES), n_p, n_s + 1), dtype=np.int64)
    at_point = roster.point >= 0
    role_of = np.full(len(ROLES), -1, dtype=np.int64)
    for r, name in enumerate(POINT_ROLES):
        role_of[ROLES.index(name)] = r
    role = role_of[roster.role[at_point]]
    keep = role >= 0
    point = roster.point[at_point][keep]
    first = np.clip(-(-roster.start[at_point][keep] // slot_s), 0, n_s)
    stop = np.clip(roster.end[at_point][keep] // slot_s, 0, n_s)
    np.add.at(out, (role[keep], point, first), 1)
    np.add.at(out, (role[keep], point, stop), -1)
    return np.cumsum(out, axis=2)[:, :, :n_s]


def staffed_desks(scenario: Scenario, staff: np.ndarray) -> np.ndarray:
    """Open desks per (point, slot): min(desks, samplers, registrars)."""
    desks = scenario.points.desks.astype(np.int64)[:, None]
    return np.minimum(desks, np.minimum(staff[SAMPLE], staff[REGISTER]))


def staffed_capacity(scenario: Scenario, staff: np.ndarray) -> np.ndarray:
    """Persons per (point, slot) the staff can sample; 0 where lead or order keepers are missing."""
    st = scenario.settings
    desks = staffed_desks(scenario, staff)
    keepers = np.maximum(1, np.ceil(st.order_keepers_per_desk * desks - 1e-9).astype(np.int64))
    ready = (staff[LEAD] >= 1) & (staff[ORDER] >= keepers)
    return np.where(ready, st.slot_capacity(desks), 0)
