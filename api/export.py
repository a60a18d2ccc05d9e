"""Exports in the contract's files, written by `scheduler.schedule.write_schedule` itself.

A coordinator's export holds their communities only: the visits, unserved entries and route stops
of their residents, and the duties at their points (and public points their residents use) and in
the teams visiting their doors. `kpis.json` keeps the version's figures for the whole scenario and
says so under `scope`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine

from scheduler.domain import NO_REF, Scenario
from scheduler.schedule import DOORSTEP, POINT, UNSERVED, Roster, Routes, Schedule, write_schedule
from store.versions import load_scenario, load_schedule

EXPORT_FILES: dict[str, str] = {
    "assignments.csv": "text/csv; charset=utf-8",
    "roster.csv": "text/csv; charset=utf-8",
    "routes.csv": "text/csv; charset=utf-8",
    "kpis.json": "application/json",
}


def write_export(
    engine: Engine, scenario_id: int, version_id: int, communities: frozenset[str] | None, out: Path
) -> None:
    """Write the version's schedule files into `out`, cut to `communities` (None: all)."""
    scenario = load_scenario(engine, scenario_id)
    schedule = load_schedule(engine, version_id, scenario)
    if communities is not None:
        schedule = scoped(scenario, schedule, communities)
    write_schedule(scenario, schedule, out)


def scoped(scenario: Scenario, schedule: Schedule, communities: frozenset[str]) -> Schedule:
    """The part of `schedule` that concerns the residents of `communities`."""
    wanted = np.array([c in communities for c in scenario.communities], dtype=bool)
    building_in = wanted[scenario.buildings.community]
    resident_in = building_in[scenario.residents.building]
    household_in = building_in[scenario.household_building]

    # A point's community: its own, or its compound's; public points count where our residents go.
    community = scenario.point_community()
    point_in = np.zeros(len(scenario.points), dtype=bool)
    point_in[community != NO_REF] = wanted[community[community != NO_REF]]
    point_in[np.unique(schedule.point[resident_in & (schedule.mode == POINT)])] = True

    routes = schedule.routes
    team_in = np.zeros(len(schedule.teams), dtype=bool)
    team_in[schedule.team[resident_in & (schedule.mode == DOORSTEP)]] = True
    team_in[routes.team[household_in[routes.household]]] = True

    roster = schedule.roster
    at_point = roster.point != NO_REF
    keep = np.where(
        at_point, point_in[np.where(at_point, roster.point, 0)], team_in[np.where(at_point, 0, roster.team)]
    )
    stops = household_in[routes.household]
    kpis = dict(schedule.kpis)
    kpis["scope"] = {
        "communities": sorted(communities),
        "residents": int(resident_in.sum()),
        "note": "the files hold these communities only; the other figures are the whole scenario's",
    }
    return dataclasses.replace(
        schedule,
        mode=np.where(resident_in, schedule.mode, UNSERVED).astype(schedule.mode.dtype),
        roster=Roster(*(getattr(roster, f.name)[keep] for f in dataclasses.fields(Roster))),
        routes=Routes(*(getattr(routes, f.name)[stops] for f in dataclasses.fields(Routes))),
        unserved=[u for u in schedule.unserved if resident_in[u.resident]],
        kpis=kpis,
    )
