"""Re-solve only the communities a change touches, keeping the rest of a published schedule.

The affected part of a scenario is the residents of the affected communities, the points
they may use and the staff who may work there. Everything else stays as published: the
visits of the other communities' residents, their points' duties and their door teams.
Public points are shared: a public point some unaffected resident uses keeps its published
duties (`held`), and the affected residents get only the room those duties leave (in slots
with a lead and order keepers on duty). A worker without a community may also work
elsewhere: their kept duties stay, new point duties keep a break away from them within the
day's hours (the staffing's `busy`), and they join no new door team (the door planner does
not see kept duties).

The affected part is solved by `solve_schedule` on a sub-scenario (the affected
communities' buildings, households and residents; every point; the workers of those
communities and those without one), from the published schedule of that part, and merged
back into the published schedule; the KPIs are those of the merged schedule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from scheduler.domain import (
    LEVELS,
    NO_REF,
    SCOPES,
    SKILL_BIT,
    Buildings,
    Residents,
    Scenario,
    Workers,
    Zones,
    slot_masks,
)
from scheduler.kpis import point_slot_loads, schedule_kpis, walk_distances
from scheduler.limits import DEFAULT_LIMITS, SolverLimits
from scheduler.plan import busy_slots, solve_schedule
from scheduler.schedule import POINT, Roster, Routes, Schedule, Unserved, changed_visits
from scheduler.staffing.capacity import on_duty, staffed_capacity, staffed_desks


@dataclass(frozen=True)
class _Part:
    """Rows of the full scenario that make up the affected part."""

    building: np.ndarray  # bool per building
    household: np.ndarray  # bool per household
    resident: np.ndarray  # bool per resident
    worker: np.ndarray  # bool per worker: may take new duties in the affected part
    busy: np.ndarray  # bool (workers, slots): slots of kept duties
    held: np.ndarray  # bool per point: published duties kept, room only
    kept_row: np.ndarray  # bool per roster row of the published schedule
    kept_team: np.ndarray  # bool per team of the published schedule


def community_of_target(scenario: Scenario, scope: str, target_id: str) -> int:
    """The community row of a zone target (a community, compound or building id)."""
    if scope == "community":
        return scenario.communities.index(target_id)
    if scope == "compound":
        return int(scenario.compound_community[scenario.compounds.index(target_id)])
    if scope == "building":
        return int(scenario.buildings.community[scenario.buildings.ids.index(target_id)])
    raise ValueError(f"unknown zone scope {scope!r} (one of {', '.join(SCOPES)})")


def with_zone(scenario: Scenario, level: str, scope: str, target: int) -> Scenario:
    """The scenario with one more zone: `target` (a row of `scope`) at `level`."""
    z = scenario.zones
    zones = Zones(
        level=np.append(z.level, LEVELS.index(level)).astype(np.int8),
        scope=np.append(z.scope, SCOPES.index(scope)).astype(np.int8),
        target=np.append(z.target, target).astype(np.int32),
    )
    return replace(scenario, zones=zones)


def resolve_communities(
    scenario: Scenario, previous: Schedule, communities: set[int], *, limits: SolverLimits = DEFAULT_LIMITS
) -> Schedule:
    """The whole scenario's schedule with only `communities` (rows) re-solved; `previous` elsewhere.

    `previous` must be a schedule of this scenario's residents whose roster staffs its points.
    """
    if not previous.has_roster or not previous.points_staffed:
        raise ValueError("a partial re-solve needs a published schedule whose roster staffs its points")
    began = time.perf_counter()
    part = _affected_part(scenario, previous, communities)
    kept_roster = _rows(previous.roster, part.kept_row)
    room = _room(scenario, previous, part, kept_roster)
    sub, sub_previous = _sub_scenario(scenario, part), _sub_schedule(scenario, previous, part)
    solved = solve_schedule(
        sub, previous=sub_previous, limits=limits, room=room, staffed=part.held, busy=part.busy[part.worker]
    )
    merged = _merge(scenario, previous, part, kept_roster, solved)
    _kpis(scenario, previous, part, merged, solved, began)
    merged.kpis["resolved_communities"] = sorted(scenario.communities[c] for c in communities)
    return merged


def _affected_part(scenario: Scenario, previous: Schedule, communities: set[int]) -> _Part:
    affected = np.zeros(len(scenario.communities), dtype=bool)
    affected[sorted(communities)] = True
    building = affected[scenario.buildings.community]
    household = building[scenario.household_building]
    resident = building[scenario.residents.building]
    point_community = scenario.point_community()
    public = point_community == NO_REF
    outside_at_point = (previous.mode == POINT) & ~resident
    held = np.zeros(len(scenario.points), dtype=bool)
    held[previous.point[outside_at_point]] = True
    held &= public

    roster, routes = previous.roster, previous.routes
    worker_community = scenario.workers.community
    # A team is the affected part's when it visits an affected household or has a member of an affected community.
    team_affected = np.zeros(len(previous.teams), dtype=bool)
    team_affected[routes.team[household[routes.household]]] = True
    member = roster.team != NO_REF
    member_affected = worker_community[roster.worker[member]]
    member_affected = (member_affected != NO_REF) & affected[np.maximum(member_affected, 0)]
    team_affected[roster.team[member][member_affected]] = True
    row_community = point_community[np.maximum(roster.point, 0)]
    at_point = roster.point != NO_REF
    point_kept = np.where(
        public[np.maximum(roster.point, 0)], held[np.maximum(roster.point, 0)], ~affected[np.maximum(row_community, 0)]
    )
    kept_row = np.where(at_point, point_kept, ~team_affected[np.maximum(roster.team, 0)])

    worker = (worker_community == NO_REF) | affected[np.maximum(worker_community, 0)]
    busy = busy_slots(scenario, _rows(roster, kept_row))
    return _Part(building, household, resident, worker, busy, held, kept_row, ~team_affected)


def _rows(roster: Roster, keep: np.ndarray) -> Roster:
    return Roster(
        roster.worker[keep],
        roster.point[keep],
        roster.team[keep],
        roster.role[keep],
        roster.start[keep],
        roster.end[keep],
    )


def _room(scenario: Scenario, previous: Schedule, part: _Part, kept_roster: Roster) -> np.ndarray:
    """Persons per (point, slot) the affected residents may take: what the kept duties leave at held points."""
    outside = replace(previous, mode=np.where(part.resident, 0, previous.mode).astype(np.int8))
    load = point_slot_loads(scenario, outside)
    capacity = staffed_capacity(scenario, on_duty(scenario, kept_roster)) * slot_masks(
        scenario.points.hours, scenario.settings
    )
    # staffed_capacity is 0 wherever the kept duties lack a lead or order keepers.
    spare = np.maximum(capacity - load, 0)
    unlimited = np.iinfo(np.int64).max
    return np.where(part.held[:, None], spare, unlimited)


def _sub_scenario(scenario: Scenario, part: _Part) -> Scenario:
    """The affected communities' buildings, households and residents, every point, the free workers."""
    b_rows, h_rows, r_rows = (np.flatnonzero(m) for m in (part.building, part.household, part.resident))
    w_rows = np.flatnonzero(part.worker)
    b_new = np.full(len(scenario.buildings), NO_REF, dtype=np.int32)
    b_new[b_rows] = np.arange(len(b_rows))
    h_new = np.full(len(scenario.households), NO_REF, dtype=np.int32)
    h_new[h_rows] = np.arange(len(h_rows))
    bl, rs, wk, zn = scenario.buildings, scenario.residents, scenario.workers, scenario.zones
    pick = r_rows.tolist()
    residents = Residents(
        ids=[rs.ids[i] for i in pick],
        household=h_new[rs.household[r_rows]],
        building=b_new[rs.building[r_rows]],
        birth_year=rs.birth_year[r_rows],
        flags=rs.flags[r_rows],
        id_hash=[rs.id_hash[i] for i in pick],
        phone_hash=[rs.phone_hash[i] for i in pick],
        phone_tail_hash=[rs.phone_tail_hash[i] for i in pick],
    )
    buildings = Buildings(
        ids=[bl.ids[i] for i in b_rows.tolist()],
        community=bl.community[b_rows],
        compound=bl.compound[b_rows],
        lat=bl.lat[b_rows],
        lon=bl.lon[b_rows],
        floors=bl.floors[b_rows],
    )
    # The door planner does not see kept duties: a worker with some joins no door team here.
    with_kept = part.busy[w_rows].any(axis=1)
    workers = Workers(
        ids=[wk.ids[i] for i in w_rows.tolist()],
        names=[wk.names[i] for i in w_rows.tolist()],
        kind=wk.kind[w_rows],
        skills=np.where(with_kept, wk.skills[w_rows] & np.uint8(0xFF ^ SKILL_BIT["doorstep"]), wk.skills[w_rows]),
        community=wk.community[w_rows],
        available=[wk.available[i] for i in w_rows.tolist()],
    )
    # Building zones follow their buildings; zones of other buildings cover nobody here.
    on_building = zn.scope == SCOPES.index("building")
    zone_keep = ~on_building | part.building[np.where(on_building, zn.target, 0)]
    zone_target = np.where(on_building, b_new[np.where(on_building, zn.target, 0)], zn.target)
    zones = Zones(level=zn.level[zone_keep], scope=zn.scope[zone_keep], target=zone_target[zone_keep].astype(np.int32))
    return replace(
        scenario,
        households=[scenario.households[i] for i in h_rows.tolist()],
        household_building=b_new[scenario.household_building[h_rows]],
        buildings=buildings,
        residents=residents,
        workers=workers,
        zones=zones,
    )


def _sub_schedule(scenario: Scenario, previous: Schedule, part: _Part) -> Schedule:
    """The published schedule of the affected part, in the sub-scenario's rows (team rows unchanged)."""
    r = part.resident
    w_new = np.full(len(scenario.workers), NO_REF, dtype=np.int32)
    w_new[part.worker] = np.arange(int(part.worker.sum()))
    roster = _rows(previous.roster, ~part.kept_row & part.worker[previous.roster.worker])
    roster.worker = w_new[roster.worker]
    h_new = np.full(len(scenario.households), NO_REF, dtype=np.int32)
    h_new[part.household] = np.arange(int(part.household.sum()))
    routes = previous.routes
    stop = part.household[routes.household]
    return Schedule(
        mode=previous.mode[r],
        point=previous.point[r],
        team=previous.team[r],
        start=previous.start[r],
        end=previous.end[r],
        teams=previous.teams,
        roster=roster,
        routes=Routes(
            routes.team[stop], routes.seq[stop], h_new[routes.household[stop]], routes.arrive[stop], routes.depart[stop]
        ),
        has_roster=True,
        points_staffed=True,
    )


def _renumbered(team: np.ndarray, new_row: np.ndarray) -> np.ndarray:
    """Team rows through `new_row` (old row → new row); NO_REF stays NO_REF, also when there are no teams."""
    out = np.full(len(team), NO_REF, dtype=np.int32)
    has = team != NO_REF
    out[has] = new_row[team[has]]
    return out


def _merge(scenario: Scenario, previous: Schedule, part: _Part, kept_roster: Roster, solved: Schedule) -> Schedule:
    """`previous` outside the affected part, `solved` inside it, in the full scenario's rows."""
    kept_teams = np.flatnonzero(part.kept_team)
    teams = [previous.teams[t] for t in kept_teams.tolist()] + solved.teams
    if len(set(teams)) != len(teams):
        raise ValueError("a re-solved door team has the name of a kept one")
    team_new = np.full(len(previous.teams), NO_REF, dtype=np.int32)
    team_new[kept_teams] = np.arange(len(kept_teams))
    offset = len(kept_teams)
    r_rows = np.flatnonzero(part.resident)
    w_rows = np.flatnonzero(part.worker)
    h_rows = np.flatnonzero(part.household)

    merged = Schedule(
        mode=previous.mode.copy(),
        point=previous.point.copy(),
        team=_renumbered(previous.team, team_new),
        start=previous.start.copy(),
        end=previous.end.copy(),
        teams=teams,
        has_roster=True,
        points_staffed=True,
    )
    merged.mode[r_rows] = solved.mode
    merged.point[r_rows] = solved.point
    merged.team[r_rows] = np.where(solved.team == NO_REF, NO_REF, solved.team + offset)
    merged.start[r_rows] = solved.start
    merged.end[r_rows] = solved.end

    new = solved.roster
    merged.roster = Roster(
        worker=np.concatenate([kept_roster.worker, w_rows[new.worker]]).astype(np.int32),
        point=np.concatenate([kept_roster.point, new.point]).astype(np.int32),
        team=np.concatenate(
            [
                _renumbered(kept_roster.team, team_new),
                np.where(new.team == NO_REF, NO_REF, new.team + offset),
            ]
        ).astype(np.int32),
        role=np.concatenate([kept_roster.role, new.role]).astype(np.int8),
        start=np.concatenate([kept_roster.start, new.start]).astype(np.int64),
        end=np.concatenate([kept_roster.end, new.end]).astype(np.int64),
    )
    old, fresh = previous.routes, solved.routes
    kept_stop = part.kept_team[old.team]
    merged.routes = Routes(
        team=np.concatenate([team_new[old.team[kept_stop]], fresh.team + offset]).astype(np.int32),
        seq=np.concatenate([old.seq[kept_stop], fresh.seq]).astype(np.int32),
        household=np.concatenate([old.household[kept_stop], h_rows[fresh.household]]).astype(np.int32),
        arrive=np.concatenate([old.arrive[kept_stop], fresh.arrive]).astype(np.int64),
        depart=np.concatenate([old.depart[kept_stop], fresh.depart]).astype(np.int64),
    )
    merged.unserved = [u for u in previous.unserved if not part.resident[u.resident]] + [
        Unserved(int(r_rows[u.resident]), u.reason, u.detail) for u in solved.unserved
    ]
    return merged


def _kpis(
    scenario: Scenario, previous: Schedule, part: _Part, merged: Schedule, solved: Schedule, began: float
) -> None:
    """The contract's KPIs of the merged schedule, with the re-solved part's own figures alongside."""
    staff = on_duty(scenario, merged.roster)
    capacity = staffed_capacity(scenario, staff) * slot_masks(scenario.points.hours, scenario.settings)
    # Kept visits are fixed, so their walk is exact; the re-solved part brings its own proven bound.
    walk = walk_distances(scenario, merged)
    kept_walk = float(walk[~part.resident[merged.mode == POINT]].sum())
    names = set(scenario.communities[c] for c in np.unique(scenario.buildings.community[part.building]).tolist())
    merged.kpis = schedule_kpis(
        scenario,
        merged,
        capacity=capacity,
        walk_m_lower_bound=kept_walk + float(solved.kpis["walk_m_lower_bound"]),
        solve_seconds=time.perf_counter() - began,
        objective={"changed_visits": len(changed_visits(previous, merged))},
        open_desks=staffed_desks(scenario, staff),
    )
    merged.kpis["staff_shortfall"] = [
        entry for entry in previous.kpis.get("staff_shortfall", []) if entry.get("community") not in names
    ] + solved.kpis.get("staff_shortfall", [])
    # The door teams' and the staffing's own figures are the re-solved part's.
    merged.kpis["resolved_part"] = {key: solved.kpis[key] for key in ("doorstep", "staffing") if key in solved.kpis}
