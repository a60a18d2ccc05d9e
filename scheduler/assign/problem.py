"""The compiled assignment problem: demand classes, their candidate points, capacities.

Households that go to a point are grouped into classes: same building, same special
need, same previous point. Members of a class are interchangeable to the flow, so a
district of 400,000 households becomes a few tens of thousands of class nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.assign.demand import AT_POINT, Demand
from scheduler.assign.eligibility import Eligible
from scheduler.domain import NO_REF, Scenario, slot_masks


@dataclass
class AssignmentProblem:
    scenario: Scenario
    demand: Demand
    eligible: Eligible
    household_class: np.ndarray  # int32 class per household, NO_REF for door visits
    class_building: np.ndarray  # int32
    class_special: np.ndarray  # bool
    class_previous_point: np.ndarray  # int32, NO_REF when the class has no previous point
    class_persons: np.ndarray  # int64
    capacity: np.ndarray  # int64 (points, slots): persons a slot holds; 0 where the point is closed
    previous_point: np.ndarray  # int32 per household, NO_REF when none
    previous_slot: np.ndarray  # int32 per household, NO_REF when none

    @property
    def n_classes(self) -> int:
        return len(self.class_building)

    @property
    def n_points(self) -> int:
        return len(self.capacity)

    def point_node(self, point: np.ndarray) -> np.ndarray:
        return self.n_classes + point.astype(np.int64)

    @property
    def sink(self) -> int:
        return self.n_classes + self.n_points

    @property
    def point_capacity(self) -> np.ndarray:
        """Persons a point holds over the whole round."""
        return self.capacity.sum(axis=1)

    def class_arcs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (class, point, distance) a class may use, from its building's eligible pairs."""
        starts = self.eligible.offsets[self.class_building]
        counts = self.eligible.offsets[self.class_building + 1] - starts
        cls = np.repeat(np.arange(self.n_classes, dtype=np.int64), counts)
        first = np.repeat(starts - np.cumsum(counts) + counts, counts)
        pair = first + np.arange(len(cls))
        return cls, self.eligible.point[pair].astype(np.int64), self.eligible.distance_m[pair]


def full_capacity(scenario: Scenario, usable: np.ndarray) -> np.ndarray:
    """Persons per (point, slot) with every desk staffed: floor(desks × rate × slot), rounded once."""
    settings = scenario.settings
    per_slot = settings.slot_capacity(scenario.points.desks)
    return slot_masks(scenario.points.hours, settings) * usable[:, None] * per_slot[:, None]


def compile_problem(
    scenario: Scenario,
    demand: Demand,
    eligible: Eligible,
    capacity: np.ndarray,
    previous_point: np.ndarray,
    previous_slot: np.ndarray,
) -> AssignmentProblem:
    at_point = np.flatnonzero(demand.doorstep == AT_POINT)
    n_points = len(scenario.points)
    special = demand.special
    key = (demand.building[at_point].astype(np.int64) * 2 + special[at_point]) * (n_points + 1) + (
        previous_point[at_point] + 1
    )
    keys, inverse = np.unique(key, return_inverse=True)
    household_class = np.full(len(demand.size), NO_REF, dtype=np.int32)
    household_class[at_point] = inverse
    class_persons = np.bincount(inverse, weights=demand.size[at_point], minlength=len(keys)).astype(np.int64)
    return AssignmentProblem(
        scenario=scenario,
        demand=demand,
        eligible=eligible,
        household_class=household_class,
        class_building=(keys // (n_points + 1) // 2).astype(np.int32),
        class_special=((keys // (n_points + 1)) % 2).astype(bool),
        class_previous_point=(keys % (n_points + 1) - 1).astype(np.int32),
        class_persons=class_persons,
        capacity=capacity,
        previous_point=previous_point,
        previous_slot=previous_slot,
    )
