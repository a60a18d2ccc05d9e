"""Which points each building's residents may use (rule 3 and the community rules).

Normal and precaution buildings: public points and their own community's points (not
another compound's in-compound point) within `max_walk_m`. Controlled buildings: only
in-compound points of their own compound, at any distance (ruling 8). Candidates come
from a grid of `max_walk_m` cells, so a city costs no more per building than a street.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from scheduler.assign.demand import AT_POINT, CONTROLLED, Demand, build_demand, usable_points
from scheduler.domain import NO_REF, Scenario
from scheduler.geo import EARTH_RADIUS_M, haversine_m


@dataclass
class Eligible:
    """Building → point pairs, sorted by building, with their great-circle distance."""

    building: np.ndarray  # int32
    point: np.ndarray  # int32
    distance_m: np.ndarray  # float64
    offsets: np.ndarray  # int64, pairs of building b are [offsets[b], offsets[b + 1])

    def of(self, b: int) -> slice:
        return slice(int(self.offsets[b]), int(self.offsets[b + 1]))


def _grid_cells(lat: np.ndarray, lon: np.ndarray, cell_m: float, lat0: float) -> np.ndarray:
    metres_per_degree = np.pi * EARTH_RADIUS_M / 180
    y = np.floor(lat * metres_per_degree / cell_m).astype(np.int64)
    x = np.floor(lon * metres_per_degree * np.cos(np.radians(lat0)) / cell_m).astype(np.int64)
    return np.stack([y, x], axis=1)


def eligible_pairs(
    scenario: Scenario, building_level: np.ndarray, usable: np.ndarray, needs_point: np.ndarray
) -> Eligible:
    """Pairs for the buildings flagged in `needs_point`, over the `usable` points only."""
    buildings, points = scenario.buildings, scenario.points
    max_walk = float(scenario.settings.max_walk_m)
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    walkers = np.flatnonzero(needs_point & (building_level < CONTROLLED))
    candidates = np.flatnonzero(usable)
    if len(walkers) and len(candidates):
        # East-west cells are sized where a degree of longitude is shortest (the latitude
        # farthest from the equator), so a cell is never narrower than max_walk_m anywhere
        # in the area; a little more absorbs the flat-earth approximation of the grid.
        lat0 = float(np.max(np.abs(np.concatenate([buildings.lat[walkers], points.lat[candidates]]))))
        cell_m = max_walk * 1.01
        b_cells = _grid_cells(buildings.lat[walkers], buildings.lon[walkers], cell_m, lat0)
        p_cells = _grid_cells(points.lat[candidates], points.lon[candidates], cell_m, lat0)
        points_in_cell: dict[tuple[int, int], list[int]] = defaultdict(list)
        for p, (y, x) in zip(candidates.tolist(), p_cells.tolist(), strict=True):
            points_in_cell[(y, x)].append(p)
        cell_keys, cell_of_building = np.unique(b_cells, axis=0, return_inverse=True)
        order = np.argsort(cell_of_building, kind="stable")
        bounds = np.searchsorted(cell_of_building[order], np.arange(len(cell_keys) + 1))
        for k, (y, x) in enumerate(cell_keys.tolist()):
            near = [p for dy in (-1, 0, 1) for dx in (-1, 0, 1) for p in points_in_cell.get((y + dy, x + dx), ())]
            if not near:
                continue
            bs = walkers[order[bounds[k] : bounds[k + 1]]]
            ps = np.array(sorted(near), dtype=np.int32)
            d = haversine_m(
                buildings.lat[bs, None], buildings.lon[bs, None], points.lat[None, ps], points.lon[None, ps]
            )
            p_comm, p_comp = points.community[ps][None, :], points.compound[ps][None, :]
            b_comm, b_comp = buildings.community[bs][:, None], buildings.compound[bs][:, None]
            public = (p_comm == NO_REF) & (p_comp == NO_REF)
            own = (p_comm == b_comm) & ((p_comp == NO_REF) | (p_comp == b_comp))
            ok = (public | own) & (d <= max_walk)
            bi, pi = np.nonzero(ok)
            chunks.append((bs[bi].astype(np.int32), ps[pi], d[bi, pi]))

    controlled = np.flatnonzero(needs_point & (building_level == CONTROLLED))
    if len(controlled):
        compound_points: dict[int, list[int]] = defaultdict(list)
        for p in np.flatnonzero(usable & (points.compound != NO_REF)).tolist():
            compound_points[int(points.compound[p])].append(p)
        pairs = [(b, p) for b in controlled.tolist() for p in compound_points.get(int(buildings.compound[b]), ())]
        if pairs:
            bs_c, ps_c = (np.array(col, dtype=np.int32) for col in zip(*pairs, strict=True))
            d_c = haversine_m(buildings.lat[bs_c], buildings.lon[bs_c], points.lat[ps_c], points.lon[ps_c])
            chunks.append((bs_c, ps_c, d_c))

    if chunks:
        b_all = np.concatenate([c[0] for c in chunks])
        p_all = np.concatenate([c[1] for c in chunks])
        d_all = np.concatenate([c[2] for c in chunks])
    else:
        b_all = p_all = np.zeros(0, dtype=np.int32)
        d_all = np.zeros(0, dtype=np.float64)
    # Sort by building, then distance, then point: the nearest point comes first in each run.
    order = np.lexsort((p_all, d_all, b_all))
    b_all, p_all, d_all = b_all[order], p_all[order], d_all[order]
    offsets = np.searchsorted(b_all, np.arange(len(buildings) + 1)).astype(np.int64)
    return Eligible(building=b_all, point=p_all, distance_m=d_all, offsets=offsets)


@dataclass
class Reach:
    """Who goes out, and to which points they may go."""

    level: np.ndarray  # int8 zone level per building
    usable: np.ndarray  # bool per point: desks and an open slot in the round
    demand: Demand
    eligible: Eligible


def reach(scenario: Scenario) -> Reach:
    level = scenario.building_level()
    usable = usable_points(scenario)
    demand = build_demand(scenario, level, usable)
    needs_point = np.zeros(len(scenario.buildings), dtype=bool)
    needs_point[demand.building[demand.doorstep == AT_POINT]] = True
    return Reach(level, usable, demand, eligible_pairs(scenario, level, usable, needs_point))
