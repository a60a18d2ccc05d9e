"""Households as the unit of demand: their size, needs, and whether they go out at all.

Rules 3 and 4 of the contract decide who is sampled at the door: sealed buildings,
households with a bedridden member, and controlled compounds without a usable
in-compound point. Everyone else goes to a point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.domain import FLAG_BIT, LEVELS, NO_REF, SPECIAL_GROUPS_MASK, Scenario, slot_masks

# Why a household is sampled at its door (0: it goes to a point).
AT_POINT, SEALED, BEDRIDDEN, CONTROLLED_NO_POINT = 0, 1, 2, 3
DOORSTEP_REASONS = ("", "sealed building", "bedridden member", "controlled compound without an in-compound point")
CONTROLLED, SEALED_LEVEL = LEVELS.index("controlled"), LEVELS.index("sealed")


@dataclass
class Demand:
    size: np.ndarray  # int32 residents per household
    building: np.ndarray  # int32 building row per household
    flags: np.ndarray  # uint8 union of the members' flags
    level: np.ndarray  # int8 zone level of the household's building
    doorstep: np.ndarray  # int8 reason for a door visit, AT_POINT when none

    @property
    def special(self) -> np.ndarray:
        """Households with an elderly-alone, disabled or pregnant member."""
        return (self.flags & SPECIAL_GROUPS_MASK) != 0


def usable_points(scenario: Scenario) -> np.ndarray:
    """Points that can sample anyone in this round: a slot holds someone, and one slot is open."""
    settings = scenario.settings
    open_any = slot_masks(scenario.points.hours, settings).any(axis=1)
    return (settings.slot_capacity(scenario.points.desks) > 0) & open_any


def build_demand(scenario: Scenario, building_level: np.ndarray, usable: np.ndarray) -> Demand:
    n = len(scenario.households)
    residents = scenario.residents
    size = np.bincount(residents.household, minlength=n).astype(np.int32)
    flags = scenario.household_flags()
    building = scenario.household_building
    level = building_level[building]

    compound_has_point = np.zeros(len(scenario.compounds), dtype=bool)
    in_compound = scenario.points.compound[usable]
    compound_has_point[in_compound[in_compound != NO_REF]] = True
    own_point = compound_has_point[scenario.buildings.compound[building]]

    doorstep = door_reasons(level, flags, (level == CONTROLLED) & ~own_point, otherwise=AT_POINT)
    return Demand(size=size, building=building, flags=flags, level=level, doorstep=doorstep)


def door_reasons(
    level: np.ndarray, flags: np.ndarray, controlled_without_point: np.ndarray, otherwise: int
) -> np.ndarray:
    """Why each household is sampled at its door (rules 3 and 4), strongest reason first; `otherwise` elsewhere."""
    reason = np.full(len(level), otherwise, dtype=np.int8)
    reason[controlled_without_point] = CONTROLLED_NO_POINT
    reason[(flags & FLAG_BIT["bedridden"]) != 0] = BEDRIDDEN
    reason[level == SEALED_LEVEL] = SEALED
    return reason
