"""The coordinator's method by hand, as a baseline: nearest allowed point, earliest slot with room.

Households are taken in ledger order; each goes to the nearest point it may use that
still has room in some slot, in the earliest such slot. Same eligibility, zones and
capacity as the optimiser, so the two can be compared figure by figure.
"""

from __future__ import annotations

import numpy as np

from scheduler.assign.demand import AT_POINT
from scheduler.assign.eligibility import reach
from scheduler.assign.problem import full_capacity
from scheduler.domain import NO_REF, Scenario
from scheduler.schedule import Schedule


def greedy_assignment(scenario: Scenario) -> Schedule:
    """Point visits by the greedy rule; door visits and unserved households are left unassigned."""
    settings = scenario.settings
    reached = reach(scenario)
    demand, eligible = reached.demand, reached.eligible
    capacity = full_capacity(scenario, reached.usable)
    open_slots = [np.flatnonzero(row).tolist() for row in capacity]
    room = [row[row > 0].tolist() for row in capacity]
    point_of = np.full(len(demand.size), NO_REF, dtype=np.int32)
    slot_of = np.full(len(demand.size), NO_REF, dtype=np.int32)
    for h in np.flatnonzero(demand.doorstep == AT_POINT).tolist():
        size = int(demand.size[h])
        for p in eligible.point[eligible.of(int(demand.building[h]))].tolist():
            free = room[p]
            k = next((k for k, r in enumerate(free) if r >= size), NO_REF)
            if k != NO_REF:
                free[k] -= size
                point_of[h], slot_of[h] = p, open_slots[p][k]
                break
    schedule = Schedule.blank(len(scenario.residents))
    schedule.place_households(scenario.residents.household, point_of, slot_of, settings.slot_minutes * 60)
    return schedule
