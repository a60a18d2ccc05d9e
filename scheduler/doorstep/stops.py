"""The buildings a community's teams walk between, and the walking times (ruling 7 and 9).

Walking between two buildings takes great-circle distance / `walk_speed_m_per_min`,
rounded up to the whole second (the validator allows a shortfall of one second at most,
never more); doors of one building take no walking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.domain import Scenario
from scheduler.geo import haversine_m


@dataclass
class Places:
    """The distinct buildings of one community's door visits and the walking seconds between them."""

    building: np.ndarray  # int64 building row per place, sorted
    walk: np.ndarray  # int64 seconds, square, 0 on the diagonal

    @classmethod
    def of(cls, scenario: Scenario, buildings: np.ndarray) -> Places:
        b = np.unique(buildings).astype(np.int64)
        bl = scenario.buildings
        metres = haversine_m(bl.lat[b][:, None], bl.lon[b][:, None], bl.lat[b][None, :], bl.lon[b][None, :])
        walk = walk_seconds(metres, scenario.settings.walk_speed_m_per_min)
        np.fill_diagonal(walk, 0)
        return cls(building=b, walk=walk)

    def __len__(self) -> int:
        return len(self.building)

    def index(self, buildings: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.building, buildings)

    def nearest_other(self) -> np.ndarray:
        """Walking seconds from each place to the nearest other one (0 when it stands alone)."""
        if len(self.building) < 2:
            return np.zeros(len(self.building), dtype=np.int64)
        far = self.walk + np.diag(np.full(len(self.building), np.iinfo(np.int64).max // 4))
        return far.min(axis=1)


def walk_seconds(metres: np.ndarray, speed_m_per_min: float) -> np.ndarray:
    """Whole seconds of walking, rounded up."""
    return np.ceil(np.asarray(metres) / speed_m_per_min * 60 - 1e-9).astype(np.int64)
