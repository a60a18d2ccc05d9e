"""Re-planning door visits mid-round without disturbing routes already under way.

When a zone changes (say a compound is sealed), the teams of the published schedule
keep every visit they still have to make: same team, members, duty and times; a
household that no longer needs its door visit simply drops out of its route (the
walk between its neighbours only gets shorter, the great-circle distance being a
metric). Only the households without a kept visit are planned anew, with the kept
duties marked busy so new duties keep the rules around them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.domain import NO_REF, Scenario
from scheduler.doorstep.plan import (
    DOOR_ROLE,
    SAMPLER_SKILLS,
    DoorstepPlan,
    completion_figures,
    household_reasons,
)
from scheduler.schedule import ROSTER_DTYPES, ROUTE_DTYPES, Roster, Routes, Schedule, typed_columns


@dataclass
class Kept:
    plan: DoorstepPlan  # the kept teams, their members' duties and their remaining visits
    busy: np.ndarray  # bool (workers, slots): the kept duties
    households: np.ndarray  # household rows with a kept visit


def keep_visits(scenario: Scenario, previous: Schedule, households: np.ndarray) -> Kept:
    """The previous schedule's door visits to `households` whose team still has a qualified member."""
    settings = scenario.settings
    slot_s = settings.slot_minutes * 60
    roster, routes = previous.roster, previous.routes
    member = (roster.team != NO_REF) & (roster.role == DOOR_ROLE)
    member &= (roster.start >= 0) & (roster.end <= settings.round_minutes * 60)
    qualified = member & ((scenario.workers.skills[roster.worker] & SAMPLER_SKILLS) == SAMPLER_SKILLS)
    teams_ok = np.zeros(len(previous.teams), dtype=bool)
    teams_ok[roster.team[qualified]] = True
    wanted = np.zeros(len(scenario.households), dtype=bool)
    wanted[households] = True
    round_s = settings.round_minutes * 60
    inside = (routes.arrive >= 0) & (routes.depart <= round_s)  # a schedule of another round keeps nothing
    stop_kept = teams_ok[routes.team] & wanted[routes.household] & inside
    kept_teams = np.unique(routes.team[stop_kept])
    new_index = np.full(len(previous.teams), NO_REF, dtype=np.int32)
    new_index[kept_teams] = np.arange(len(kept_teams), dtype=np.int32)

    rows = np.flatnonzero(stop_kept)
    rows = rows[np.lexsort((routes.seq[rows], routes.team[rows]))]
    team = new_index[routes.team[rows]]
    seq = np.arange(len(rows)) - np.searchsorted(team, team) + 1  # renumbered 1, 2, 3 … per team
    stops = list(
        zip(
            team.tolist(),
            seq.tolist(),
            routes.household[rows].tolist(),
            routes.arrive[rows].tolist(),
            routes.depart[rows].tolist(),
            strict=True,
        )
    )

    duty_rows = np.flatnonzero(member & np.isin(roster.team, kept_teams))
    duties = [
        (
            int(roster.worker[i]),
            NO_REF,
            int(new_index[roster.team[i]]),
            DOOR_ROLE,
            int(roster.start[i]),
            int(roster.end[i]),
        )
        for i in duty_rows.tolist()
    ]
    busy = np.zeros((len(scenario.workers), settings.n_slots), dtype=bool)
    for w, _, _, _, a, b in duties:
        busy[w, a // slot_s : -(-b // slot_s)] = True
    windows = [
        (min(a for _, _, t, _, a, _ in duties if t == k), max(b for _, _, t, _, _, b in duties if t == k))
        for k in range(len(kept_teams))
    ]
    plan = DoorstepPlan(
        teams=[previous.teams[t] for t in kept_teams.tolist()],
        roster=Roster(*typed_columns(duties, ROSTER_DTYPES)),
        routes=Routes(*typed_columns(stops, ROUTE_DTYPES)),
        unserved=[],
        kpis={},
        windows=windows,
    )
    return Kept(plan=plan, busy=busy, households=np.unique(routes.household[rows]))


def merge(scenario: Scenario, kept: DoorstepPlan, new: DoorstepPlan, households: np.ndarray) -> DoorstepPlan:
    """Kept teams first, then the new ones, renamed where a new id is already taken.

    `households` are all the door households (kept and newly planned): the visit counts and
    completion times are the whole plan's; team and search figures are the new part's.
    """
    taken = set(kept.teams)
    names = []
    for name in new.teams:
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name}-{n}", n + 1
        taken.add(unique)
        names.append(unique)
    shift = len(kept.teams)
    roster = Roster(
        *(
            np.concatenate([a, b])
            for a, b in zip(_roster_columns(kept.roster), _roster_columns(new.roster, shift), strict=True)
        )
    )
    routes = Routes(
        np.concatenate([kept.routes.team, new.routes.team + shift]).astype(np.int32),
        np.concatenate([kept.routes.seq, new.routes.seq]),
        np.concatenate([kept.routes.household, new.routes.household]),
        np.concatenate([kept.routes.arrive, new.routes.arrive]),
        np.concatenate([kept.routes.depart, new.routes.depart]),
    )
    kpis = dict(new.kpis)
    kpis.update(completion_figures(routes, households, household_reasons(scenario, households)))
    kpis["kept_teams"] = len(kept.teams)
    kpis["kept_visits"] = len(kept.routes)
    return DoorstepPlan(
        teams=[*kept.teams, *names],
        roster=roster,
        routes=routes,
        unserved=new.unserved,
        kpis=kpis,
        windows=[*kept.windows, *new.windows],
    )


def _roster_columns(roster: Roster, team_shift: int = 0) -> list[np.ndarray]:
    team = np.where(roster.team != NO_REF, roster.team + team_shift, NO_REF).astype(np.int32)
    return [roster.worker, roster.point, team, roster.role, roster.start, roster.end]
