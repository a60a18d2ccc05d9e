"""Cut a scenario into parts solved apart and merged back: the scale-out of a large solve.

A part is a group of whole communities, close together, of similar resident counts
(recursive bisection of the communities' centres along the longer side, at the resident
median); the points of those communities; the public points whose home it is (the part with
most residents within `max_walk_m` of the point who may walk to one); those communities'
workers and a share of the workers without a community (dealt out by skills and hours, in
proportion to the part's public desks and residents; a re-solve keeps each one in the part
where they were on duty). Residents of a part use only its points: that restriction, near
the parts' borders, is the cost of cutting (`bench/bench_fanout.py` measures it).

A part is solved by `solve_schedule` on `scheduler.resolve`'s sub-scenario of its residents
and workers, every other point given no room; `merge` lays the parts' schedules into one of
the whole scenario (`scheduler.resolve`'s merge, part after part: door team ids carry their
community, so they stay unique). Same scenario, parts and previous schedule: same partition.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from scheduler.domain import LEVELS, NO_REF, SKILL_BIT, SKILLS, Scenario, slot_masks
from scheduler.geo import haversine_m
from scheduler.kpis import schedule_kpis
from scheduler.limits import DEFAULT_LIMITS, SolverLimits
from scheduler.plan import solve_schedule
from scheduler.resolve import _merge, _Part, _sub_scenario, _sub_schedule
from scheduler.schedule import Schedule, changed_visits
from scheduler.staffing.capacity import on_duty, staffed_capacity, staffed_desks

CONTROLLED = LEVELS.index("controlled")


@dataclass(frozen=True)
class Partition:
    """The part (0 … parts-1) of every community, point and worker."""

    parts: int
    community: np.ndarray  # int32 per community
    point: np.ndarray  # int32 per point
    worker: np.ndarray  # int32 per worker

    def residents(self, scenario: Scenario, part: int) -> np.ndarray:
        """Bool per resident: lives in `part`."""
        return self.community[scenario.buildings.community[scenario.residents.building]] == part


def partition(scenario: Scenario, parts: int, *, previous: Schedule | None = None) -> Partition:
    """`parts` groups of whole communities (fewer when there are fewer communities), with their points and staff."""
    buildings = scenario.buildings
    n_communities = len(scenario.communities)
    parts = max(1, min(parts, n_communities))
    persons = np.bincount(buildings.community[scenario.residents.building], minlength=n_communities).astype(float)
    weight = np.bincount(buildings.community, minlength=n_communities).astype(float)
    lat = np.bincount(buildings.community, buildings.lat, n_communities) / np.maximum(weight, 1)
    lon = np.bincount(buildings.community, buildings.lon, n_communities) / np.maximum(weight, 1)
    community = np.zeros(n_communities, dtype=np.int32)
    _bisect(np.arange(n_communities), lat, lon, persons, 0, parts, community)

    point_part = _point_parts(scenario, community)
    return Partition(parts, community, point_part, _worker_parts(scenario, community, point_part, parts, previous))


def _bisect(
    rows: np.ndarray, lat: np.ndarray, lon: np.ndarray, persons: np.ndarray, first: int, parts: int, out: np.ndarray
) -> None:
    """Give `rows` the parts first … first+parts-1: halve along the longer side at the share of persons."""
    if parts == 1 or len(rows) <= 1:
        out[rows] = first
        return
    tall = np.ptp(lat[rows]) >= np.ptp(lon[rows]) * np.cos(np.radians(lat[rows].mean()))
    order = rows[np.lexsort((rows, lat[rows] if tall else lon[rows]))]
    left = parts // 2
    share = np.cumsum(persons[order]) / max(persons[order].sum(), 1.0)
    cut = int(np.searchsorted(share, left / parts)) + 1
    cut = min(max(cut, left), len(order) - (parts - left))  # every part keeps a community
    _bisect(order[:cut], lat, lon, persons, first, left, out)
    _bisect(order[cut:], lat, lon, persons, first + left, parts - left, out)


def _point_parts(scenario: Scenario, community: np.ndarray) -> np.ndarray:
    """A point's community's part; a public point's: the part of most residents who may walk to it."""
    points, buildings = scenario.points, scenario.buildings
    point_community = scenario.point_community()
    part = np.where(point_community == NO_REF, 0, community[np.maximum(point_community, 0)]).astype(np.int32)
    persons = np.bincount(scenario.residents.building, minlength=len(buildings))
    walkers = np.where(scenario.building_level() < CONTROLLED, persons, 0)
    building_part = community[buildings.community]
    n_parts = int(community.max()) + 1
    for p in np.flatnonzero(point_community == NO_REF).tolist():
        metres = haversine_m(points.lat[p], points.lon[p], buildings.lat, buildings.lon)
        near = metres <= scenario.settings.max_walk_m
        counts = np.bincount(building_part[near], walkers[near], minlength=n_parts)
        part[p] = int(np.argmax(counts)) if counts.any() else int(building_part[np.argmin(metres)])
    return part


def _worker_parts(
    scenario: Scenario, community: np.ndarray, point_part: np.ndarray, parts: int, previous: Schedule | None
) -> np.ndarray:
    """A community's worker: its part. Without a community: where they were on duty, else dealt out by share."""
    workers = scenario.workers
    part = np.where(workers.community == NO_REF, NO_REF, community[np.maximum(workers.community, 0)]).astype(np.int32)
    free = workers.community == NO_REF
    if previous is not None and len(previous.roster):
        roster = previous.roster
        place_part = np.full(len(roster), NO_REF, dtype=np.int64)
        at_point = roster.point != NO_REF
        place_part[at_point] = point_part[roster.point[at_point]]
        team_part = _team_parts(scenario, community, previous)
        place_part[~at_point] = team_part[roster.team[~at_point]]
        known = place_part != NO_REF
        duty_s = np.zeros((len(workers), parts))
        np.add.at(duty_s, (roster.worker[known], place_part[known]), (roster.end - roster.start)[known])
        was_on_duty = free & duty_s.any(axis=1)
        part[was_on_duty] = np.argmax(duty_s[was_on_duty], axis=1)
    dealt = np.flatnonzero(part == NO_REF)
    # Only workers without a community staff public points (ruling 5): a part needs them for its
    # public points' desk-slots; without public points, for its residents (door teams and points).
    public = scenario.point_community() == NO_REF
    desk_slots = scenario.points.desks * slot_masks(scenario.points.hours, scenario.settings).sum(axis=1)
    need = np.bincount(point_part[public], desk_slots[public], minlength=parts).astype(float)
    if not need.any():
        need = np.bincount(community[scenario.buildings.community[scenario.residents.building]], minlength=parts)
    # Each role of them in proportion to that need, counting those kept from `previous`.
    can = (workers.skills[:, None] & np.array([SKILL_BIT[s] for s in SKILLS], dtype=np.uint8)) != 0
    target = need[:, None] / max(need.sum(), 1.0) * can[free].sum(axis=0)[None, :]
    have = np.zeros_like(target)
    kept = free & (part != NO_REF)
    np.add.at(have, part[kept], can[kept])
    # Scarcest skills first, like hours side by side; each to the part short of most of what they can do.
    hours = np.unique([workers.available[w].text for w in dealt.tolist()], return_inverse=True)[1].reshape(-1)
    scarcity = (can[dealt] / np.maximum(can[free].sum(axis=0), 1)).sum(axis=1)
    for w in dealt[np.lexsort((dealt, hours, -scarcity))].tolist():
        short = ((target - have) / np.maximum(target, 1.0))[:, can[w]].sum(axis=1)
        k = int(np.argmax(short))
        part[w] = k
        have[k] += can[w]
    return part


def _team_parts(scenario: Scenario, community: np.ndarray, schedule: Schedule) -> np.ndarray:
    """The part of each door team of `schedule` (by the households it visits; NO_REF without any)."""
    team_part = np.full(len(schedule.teams), NO_REF, dtype=np.int64)
    routes = schedule.routes
    building = scenario.household_building[routes.household]
    team_part[routes.team] = community[scenario.buildings.community[building]]
    return team_part


def _part(scenario: Scenario, cut: Partition, k: int, previous: Schedule | None) -> _Part:
    """The rows of part `k`, in `scheduler.resolve`'s terms: nothing of it kept from `previous`."""
    building = cut.community[scenario.buildings.community] == k
    worker = cut.worker == k
    kept_row = ~worker[previous.roster.worker] if previous is not None else np.zeros(0, dtype=bool)
    kept_team = _team_parts(scenario, cut.community, previous) != k if previous is not None else np.zeros(0, dtype=bool)
    return _Part(
        building=building,
        household=building[scenario.household_building],
        resident=building[scenario.residents.building],
        worker=worker,
        busy=np.zeros((len(scenario.workers), scenario.settings.n_slots), dtype=bool),
        held=np.zeros(len(scenario.points), dtype=bool),
        kept_row=kept_row,
        kept_team=kept_team,
    )


def solve_part(
    scenario: Scenario,
    cut: Partition,
    k: int,
    *,
    previous: Schedule | None = None,
    limits: SolverLimits = DEFAULT_LIMITS,
) -> Schedule:
    """The schedule of part `k` alone, in the rows of its sub-scenario (its residents and workers, every point)."""
    part = _part(scenario, cut, k, previous)
    room = np.where(cut.point == k, np.iinfo(np.int64).max, 0)[:, None].repeat(scenario.settings.n_slots, axis=1)
    sub_previous = _sub_schedule(scenario, previous, part) if previous is not None else None
    # The parts together try the packing's exact re-packing as often as one solve of the whole would.
    limits = replace(limits, repack_share=limits.repack_share / cut.parts)
    return solve_schedule(_sub_scenario(scenario, part), previous=sub_previous, limits=limits, room=room)


def merge(
    scenario: Scenario,
    cut: Partition,
    solved: Sequence[Schedule],
    *,
    previous: Schedule | None = None,
    solve_seconds: float,
) -> Schedule:
    """The whole scenario's schedule from every part's (`solve_part`), with the KPIs of the whole.

    `walk_m_lower_bound` is the sum of the parts' bounds: a bound for schedules that keep
    residents in their parts, like this one. `solve_seconds` is given (the parts ran apart).
    """
    if len(solved) != cut.parts:
        raise ValueError(f"{len(solved)} part schedules for {cut.parts} parts")
    merged = Schedule.blank(len(scenario.residents))
    merged.has_roster = True
    for k, schedule in enumerate(solved):
        part = replace(_part(scenario, cut, k, None), kept_team=np.ones(len(merged.teams), dtype=bool))
        merged = _merge(scenario, merged, part, merged.roster, schedule)
    staff = on_duty(scenario, merged.roster)
    capacity = staffed_capacity(scenario, staff) * slot_masks(scenario.points.hours, scenario.settings)
    objective: dict[str, int] = {}
    for schedule in solved:
        for name, value in schedule.kpis.get("objective", {}).items():
            objective[name] = objective.get(name, 0) + int(value)
    if previous is not None:
        objective["changed_visits"] = len(changed_visits(previous, merged))
    merged.kpis = schedule_kpis(
        scenario,
        merged,
        capacity=capacity,
        walk_m_lower_bound=sum(float(s.kpis["walk_m_lower_bound"]) for s in solved),
        solve_seconds=solve_seconds,
        objective=objective,
        open_desks=staffed_desks(scenario, staff),
    )
    merged.kpis["staff_shortfall"] = [entry for s in solved for entry in s.kpis.get("staff_shortfall", [])]
    merged.kpis["parts"] = [
        {
            "part": k,
            "residents": s.kpis["residents"],
            "covered": s.kpis["covered"],
            "walk_m_total": s.kpis["walk_m_total"],
            "solve_seconds": s.kpis["solve_seconds"],
            **{key: s.kpis[key] for key in ("doorstep", "staffing") if key in s.kpis},
        }
        for k, s in enumerate(solved)
    ]
    return merged


def solve_partitioned(
    scenario: Scenario, parts: int, *, previous: Schedule | None = None, limits: SolverLimits = DEFAULT_LIMITS
) -> Schedule:
    """Every part solved here, one after another, and merged: what the workers' fan-out computes apart."""
    began = time.perf_counter()
    cut = partition(scenario, parts, previous=previous)
    solved = [solve_part(scenario, cut, k, previous=previous, limits=limits) for k in range(cut.parts)]
    return merge(scenario, cut, solved, previous=previous, solve_seconds=time.perf_counter() - began)
