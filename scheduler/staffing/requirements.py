"""What each point needs on duty in each slot, from the residents the assignment sends there.

A slot with residents needs d = the fewest desks whose capacity holds them, so d samplers
and d registrars, one lead, and max(1, ceil(order_keepers_per_desk × d)) order keepers
(rulings 3 and 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.domain import Scenario


@dataclass(frozen=True)
class Requirements:
    desks: np.ndarray  # int64 (points, slots): desks the residents of the slot need
    load: np.ndarray  # int64 (points, slots): residents

    @property
    def used(self) -> np.ndarray:
        return self.load > 0

    def order_keepers(self, settings_order_per_desk: float) -> np.ndarray:
        need = np.ceil(settings_order_per_desk * self.desks - 1e-9).astype(np.int64)
        return np.where(self.used, np.maximum(1, need), 0)


def requirements(scenario: Scenario, load: np.ndarray) -> Requirements:
    """Desks needed per (point, slot) for `load` residents, never more than the point has."""
    settings = scenario.settings
    desks = np.minimum(settings.desks_for(load), scenario.points.desks.astype(np.int64)[:, None])
    return Requirements(desks=desks, load=np.asarray(load, dtype=np.int64))
