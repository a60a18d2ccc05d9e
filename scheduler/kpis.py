"""The contract's KPIs of a schedule (ruling 11), computed from the schedule itself."""

from __future__ import annotations

from typing import Any

import numpy as np

from scheduler.domain import SPECIAL_GROUPS_MASK, Scenario
from scheduler.geo import haversine_m
from scheduler.schedule import DOORSTEP, POINT, Schedule

CROWDED = 0.8  # a slot above this share of its capacity has a queue at the desks


def point_slot_loads(scenario: Scenario, schedule: Schedule) -> np.ndarray:
    """Residents per (point, slot) for point visits."""
    settings = scenario.settings
    at_point = schedule.mode == POINT
    slot = schedule.start[at_point] // (settings.slot_minutes * 60)
    loads = np.zeros((len(scenario.points), settings.n_slots), dtype=np.int64)
    np.add.at(loads, (schedule.point[at_point], slot), 1)
    return loads


def walk_distances(scenario: Scenario, schedule: Schedule) -> np.ndarray:
    """Metres from home to point for each point-mode resident (in resident order)."""
    at_point = np.flatnonzero(schedule.mode == POINT)
    b = scenario.residents.building[at_point]
    p = schedule.point[at_point]
    buildings, points = scenario.buildings, scenario.points
    return haversine_m(buildings.lat[b], buildings.lon[b], points.lat[p], points.lon[p])


def schedule_kpis(
    scenario: Scenario,
    schedule: Schedule,
    *,
    capacity: np.ndarray,
    walk_m_lower_bound: float,
    solve_seconds: float,
    objective: dict[str, int],
    open_desks: np.ndarray | None = None,
) -> dict[str, Any]:
    """KPIs of a schedule; `capacity` is persons per (point, slot) the schedule was planned for.

    `open_desks` (points × slots) are the desks the roster staffs; without it, a point's
    desks opened are those its busiest slot needs.
    """
    loads = point_slot_loads(scenario, schedule)
    used = loads > 0
    utilisation = np.zeros_like(loads, dtype=np.float64)
    np.divide(loads, capacity, out=utilisation, where=used & (capacity > 0))
    settings = scenario.settings
    needed = settings.desks_for(loads)
    walk = walk_distances(scenario, schedule)
    walk_total = float(walk.sum())
    doorstep = schedule.mode == DOORSTEP
    at_point = schedule.mode == POINT
    special = ((scenario.residents.flags & SPECIAL_GROUPS_MASK) != 0) & at_point
    slot_of = schedule.start // (settings.slot_minutes * 60)
    resident_utilisation = utilisation[schedule.point[at_point], slot_of[at_point]]
    special_utilisation = utilisation[schedule.point[special], slot_of[special]]
    return {
        "residents": len(scenario.residents),
        "covered": int((schedule.mode != 0).sum()),
        "walk_m_total": round(walk_total, 1),
        "walk_m_lower_bound": round(walk_m_lower_bound, 1),
        "walk_gap": round((walk_total - walk_m_lower_bound) / walk_m_lower_bound, 6) if walk_m_lower_bound else 0.0,
        "walk_m_mean": round(walk_total / len(walk), 1) if len(walk) else 0.0,
        "walk_m_max": round(float(walk.max()), 1) if len(walk) else 0.0,
        "max_slot_utilisation": round(float(utilisation.max()), 4) if used.any() else 0.0,
        "mean_slot_utilisation": round(float(resident_utilisation.mean()), 4) if len(resident_utilisation) else 0.0,
        "share_in_crowded_slots": round(float((resident_utilisation > CROWDED).mean()), 4)
        if len(resident_utilisation)
        else 0.0,
        "special_at_accessible_share": round(float(scenario.points.accessible[schedule.point[special]].mean()), 4)
        if special.any()
        else 1.0,
        "special_mean_slot_utilisation": round(float(special_utilisation.mean()), 4) if special.any() else 0.0,
        "desks_opened": _desks_opened(scenario, needed, open_desks) if loads.size else 0,
        "points_used": int(used.any(axis=1).sum()),
        "staff_hours": round(float((schedule.roster.end - schedule.roster.start).sum()) / 3600, 2),
        "doorstep_households": len(np.unique(scenario.residents.household[doorstep])),
        "doorstep_residents": int(doorstep.sum()),
        "solve_seconds": round(solve_seconds, 3),
        "objective": objective,
    }


def _desks_opened(scenario: Scenario, needed: np.ndarray, open_desks: np.ndarray | None) -> int:
    """Sum over points of the most desks open at once (ruling 11)."""
    if open_desks is not None:
        return int(open_desks.max(axis=1).sum())
    return int(np.minimum(needed.max(axis=1), scenario.points.desks).sum())


def community_figures(scenario: Scenario, schedule: Schedule) -> list[dict[str, Any]]:
    """Per community: residents, at points, at the door, unserved, and mean walk of those at points."""
    community = scenario.buildings.community[scenario.residents.building]
    n = len(scenario.communities)
    at_point = schedule.mode == POINT
    walk = np.zeros(len(community))
    walk[at_point] = walk_distances(scenario, schedule)
    residents = np.bincount(community, minlength=n)
    points = np.bincount(community, weights=at_point, minlength=n)
    door = np.bincount(community, weights=schedule.mode == DOORSTEP, minlength=n)
    walked = np.bincount(community, weights=walk, minlength=n)
    return [
        {
            "community": scenario.communities[c],
            "residents": int(residents[c]),
            "at_points": int(points[c]),
            "at_door": int(door[c]),
            "unserved": int(residents[c] - points[c] - door[c]),
            "walk_m_mean": round(float(walked[c] / points[c]), 1) if points[c] else 0.0,
        }
        for c in range(n)
    ]
