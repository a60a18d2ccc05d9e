"""Candidate sites: the ledger's sampling points plus sites generated at buildings.

A planner choosing which points to open starts from the points already in the ledger
and adds places where a point could stand: the foot of a residential building. Sites
are added one at a time where the most residents are farthest from any candidate they
may use (`people × metres` to the nearest one), so they go first to buildings out of
reach and then thin out where people are few. A generated site is a community point
of its building's community (it serves only that community, as the contract's
`community_id` says), with the ledger's median desks and its most common opening hours
unless told otherwise; it is not marked accessible, since nobody has checked it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from scheduler.assign.demand import AT_POINT, build_demand, usable_points
from scheduler.domain import NO_REF, OpeningHours, Points, Scenario
from scheduler.geo import haversine_m


class CandidateError(ValueError):
    """The candidate sites cannot be generated as asked (too many, or no desks or hours to give them)."""


@dataclass(frozen=True)
class Candidates:
    """The candidate points (ledger points first, then generated sites) and where each came from."""

    points: Points
    generated: np.ndarray  # bool per candidate: a site generated at a building, not a ledger point
    building: np.ndarray  # int32 building a generated site stands at, NO_REF for ledger points

    def __len__(self) -> int:
        return len(self.points)


def default_site_desks(scenario: Scenario) -> int:
    """The median desks of the ledger's points (at least one)."""
    if not len(scenario.points):
        raise CandidateError("the ledger has no points to take desks from; give the desks of generated sites")
    return max(1, int(np.median(scenario.points.desks)))


def default_site_hours(scenario: Scenario) -> OpeningHours:
    """The opening hours most points of the ledger keep (the first such in ledger order on a tie)."""
    if not len(scenario.points):
        raise CandidateError("the ledger has no points to take hours from; give the hours of generated sites")
    counts = Counter(h.text for h in scenario.points.hours)
    best = max(counts.values())
    return next(h for h in scenario.points.hours if counts[h.text] == best)


def _walkers_per_building(scenario: Scenario) -> np.ndarray:
    """Residents per building who go to a point (door visits need no site)."""
    level = scenario.building_level()
    demand = build_demand(scenario, level, usable_points(scenario))
    at_point = demand.doorstep == AT_POINT
    return np.bincount(demand.building[at_point], weights=demand.size[at_point], minlength=len(scenario.buildings))


def _nearest_usable_m(scenario: Scenario) -> np.ndarray:
    """Metres from each building to the nearest ledger point its residents may use (inf where none)."""
    buildings, points = scenario.buildings, scenario.points
    nearest = np.full(len(buildings), np.inf)
    for p in range(len(points)):
        if points.compound[p] != NO_REF:
            users = np.flatnonzero(buildings.compound == points.compound[p])
        elif points.community[p] != NO_REF:
            users = np.flatnonzero(buildings.community == points.community[p])
        else:
            users = np.arange(len(buildings))
        d = haversine_m(buildings.lat[users], buildings.lon[users], points.lat[p], points.lon[p])
        nearest[users] = np.minimum(nearest[users], d)
    return nearest


def candidate_sites(
    scenario: Scenario, total: int, *, desks: int | None = None, hours: OpeningHours | None = None
) -> Candidates:
    """The ledger's points plus sites at buildings until there are `total` candidates."""
    points, buildings = scenario.points, scenario.buildings
    extra = total - len(points)
    if extra < 0:
        raise CandidateError(f"{total} candidates asked for, but the ledger already has {len(points)} points")
    if extra > len(buildings):
        raise CandidateError(f"{extra} sites to generate, but the ledger has only {len(buildings)} buildings")
    if extra == 0:
        return Candidates(points, np.zeros(len(points), dtype=bool), np.full(len(points), NO_REF, dtype=np.int32))
    site_desks = default_site_desks(scenario) if desks is None else desks
    site_hours = default_site_hours(scenario) if hours is None else hours

    people = _walkers_per_building(scenario)
    nearest = _nearest_usable_m(scenario)
    members = [np.flatnonzero(buildings.community == c) for c in range(len(scenario.communities))]
    # A building out of everyone's reach counts as far as the farthest pair in the area, so it comes first.
    reach_m = np.where(np.isfinite(nearest), nearest, 1e9)
    taken = np.zeros(len(buildings), dtype=bool)
    chosen: list[int] = []
    for _ in range(extra):
        score = np.where(taken, -1.0, people * reach_m + reach_m * 1e-9)  # the tie term spreads empty buildings too
        b = int(np.argmax(score))
        chosen.append(b)
        taken[b] = True
        same = members[int(buildings.community[b])]
        d = haversine_m(buildings.lat[same], buildings.lon[same], buildings.lat[b], buildings.lon[b])
        reach_m[same] = np.minimum(reach_m[same], d)

    at = np.array(chosen, dtype=np.int32)
    used = set(points.ids)
    ids = []
    for b in at.tolist():
        site_id = f"S-{buildings.ids[b]}"
        while site_id in used:
            site_id += "'"
        used.add(site_id)
        ids.append(site_id)
    n = len(at)
    merged = Points(
        ids=[*points.ids, *ids],
        names=[*points.names, *(f"site at building {buildings.ids[b]}" for b in at.tolist())],
        community=np.concatenate([points.community, buildings.community[at]]).astype(np.int32),
        compound=np.concatenate([points.compound, np.full(n, NO_REF, dtype=np.int32)]),
        lat=np.concatenate([points.lat, buildings.lat[at]]),
        lon=np.concatenate([points.lon, buildings.lon[at]]),
        desks=np.concatenate([points.desks, np.full(n, site_desks, dtype=np.int32)]).astype(np.int32),
        hours=[*points.hours, *([site_hours] * n)],
        accessible=np.concatenate([points.accessible, np.zeros(n, dtype=bool)]),
    )
    generated = np.concatenate([np.zeros(len(points), dtype=bool), np.ones(n, dtype=bool)])
    building = np.concatenate([np.full(len(points), NO_REF, dtype=np.int32), at])
    return Candidates(merged, generated, building)
