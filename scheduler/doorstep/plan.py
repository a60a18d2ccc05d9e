"""Doorstep teams, their duties and routes: `plan_doorstep`, and `apply_doorstep` to put a plan in a schedule.

Team formation (the choice the issue leaves to the solver)
-----------------------------------------------------------
- A team is formed for one duty: one worker with both `doorstep` and `sample` skills
  (the team's sampler, who must be on duty for every visit, ruling 7) for one continuous
  duty of whole slots, plus, where one is free for that whole duty, one helper: a worker
  with `doorstep` but not `sample` skill (they cannot run a desk as sampler, and the
  helper with the fewest other skills is taken first, so registrars stay at the points).
  Since a door visit takes `doorstep_minutes_per_household` whatever the team's size,
  a helper adds no speed; no second sampler is ever put into one team. The same sampler
  may lead another team in a later duty, after a break; team ids name the community and
  count its teams in order of their start (`T-C0012-03`).
- Pool of a community (ruling 5): its own workers first. Workers without a community
  (who alone may staff public points) are offered only to a community its own workers
  cannot finish: it is then planned again, in a second pass, with them too. Each worker's
  possible duties are the earliest rule 7 allows (`duties.Calendar.candidates`: runs of at
  most a shift inside `available`, clear of `busy` and a break away from it, a break
  apart, within each calendar day's hours).
- How many: the duties are taken in order of their end until they hold the community's
  estimated work (door time + the walking tours) times `WORK_MARGIN`. With enough workers
  on duty at the start this finishes the community within one shift and leaves the other
  workers (and the rest of each duty, see trimming) to the points' staffing; the kpis
  give `samplers_used` against `samplers_available`. When the routes of that selection
  still leave households out, every possible duty of the pool is offered.
- Trimming: a team's duty runs from its first door to the end of its last visit rounded
  up to a slot; the rest of the planned duty is given back.

Routing and priorities
----------------------
Households are routed in priority tiers: sealed, then bedridden, then the rest
(controlled compounds without a point, doorstep by choice), each tier starting from where
and when every team stopped in the one before. Per tier: a walking tour of the tier's
buildings (OR-Tools, `routing.open_tour`), households in tour order with those of one
building in a row; the tour is split into one stretch per duty so that the last visit
ends as early as possible (`split`); the stretches, cut at building changes, are the
first solution of the OR-Tools routing model (`routing.route_stops`: duty windows,
service and walking times, objective completion of the tier, then team time, then
walking), polished by local search in blocks of `ROUTER_BLOCK` neighbouring teams. So the
time the last sealed household is sampled is minimised first, then the bedridden ones,
then the rest. Households left over (no duty has room) are fitted one by one into what
is left of the duties, nearest building first, tier by tier; whatever still does not fit
is returned in `unserved` with its community and why, never dropped.

Communities are planned one after the other, those with the most sealed households first.
Determinism: every loop runs in row order, ties break on row numbers, and each OR-Tools
search ends on its own (a local optimum, then a fixed number of guided-local-search
solutions, see `routing`), with the time limit of `SolverLimits` only as a safety net; so
the same input gives the same plan, and `kpis["time_limited_solves"]` counts searches the
clock stopped instead (0 in the tests and the benchmark).

KPIs: `completion_minutes` is when the last sealed household's visit ends (all door
visits when none is sealed), from the round's start; `lower_bound_minutes` the largest
over communities of the earliest time the teams' duty windows could hold that work
(door time + a walking bound); `team_hours` the teams' trimmed duties, `member_hours`
the roster's; `busy_hours` the door time alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from scheduler.assign.demand import BEDRIDDEN, DOORSTEP_REASONS, SEALED, door_reasons
from scheduler.domain import LEVELS, NO_REF, SKILL_BIT, Scenario
from scheduler.doorstep.duties import Calendar, Duty
from scheduler.doorstep.routing import Vehicle, balanced_finish, open_tour, route_stops
from scheduler.doorstep.split import split_tour
from scheduler.doorstep.stops import Places
from scheduler.limits import SolverLimits
from scheduler.schedule import (
    DOORSTEP,
    ROLES,
    ROSTER_DTYPES,
    ROUTE_DTYPES,
    UNSERVED,
    Roster,
    Routes,
    Schedule,
    Unserved,
    typed_columns,
)

SAMPLER_SKILLS = SKILL_BIT["doorstep"] | SKILL_BIT["sample"]
DOOR_ROLE = ROLES.index("doorstep")
WORK_MARGIN = 1.25  # duties offered to the router, relative to the estimated door work
ROUTER_BLOCK = 12  # teams per routing search
BY_CHOICE = 4  # a household served at the door although it may go to a point (ruling 8)
REASON_TEXT = {**dict(enumerate(DOORSTEP_REASONS)), BY_CHOICE: "doorstep by choice"}


@dataclass
class DoorstepPlan:
    """Door visits planned: teams, their members' duties, routes, and the households left out."""

    teams: list[str]  # team ids, unique: T-<community>-<nn>
    roster: Roster  # one row per team member (worker, NO_REF, team row, doorstep, start, end)
    routes: Routes  # team row, seq 1.., household row, arrive, depart (seconds since the round opens)
    unserved: list[tuple[int, str]]  # household rows without a door visit, with community and why
    kpis: dict[str, float | int]
    windows: list[tuple[int, int]] = field(default_factory=list)  # per team: the duty it was routed in (seconds)


@dataclass
class _Run:
    """One offered duty while it is being filled."""

    duty: Duty
    t: int  # seconds: when the team is free next
    at: int  # place index where it stands, -1 before its first door
    end: int  # seconds: end of the duty
    visits: list[tuple[int, int, int]] = field(default_factory=list)  # (household, arrive, depart)

    def room(self, walk: np.ndarray, place: int, visit_s: int) -> int:
        """Households of `place` that still fit."""
        step = int(walk[self.at, place]) if self.at >= 0 else 0
        return max(0, (self.end - self.t - step) // visit_s)

    def add(self, walk: np.ndarray, place: int, households: np.ndarray, visit_s: int) -> None:
        self.t += int(walk[self.at, place]) if self.at >= 0 else 0
        for h in households.tolist():
            self.visits.append((h, self.t, self.t + visit_s))
            self.t += visit_s
        self.at = place


@dataclass
class _Team:
    community: int
    duty: Duty
    helper: int  # worker row or NO_REF
    start: int  # seconds, trimmed duty
    end: int
    visits: list[tuple[int, int, int]]


@dataclass
class _Stats:
    solves: int = 0
    tours: int = 0
    time_limited: int = 0
    route_seconds: float = 0.0


def household_reasons(scenario: Scenario, households: np.ndarray) -> np.ndarray:
    """Why each household is at the door: SEALED, BEDRIDDEN, CONTROLLED_NO_POINT or BY_CHOICE."""
    level = scenario.building_level()[scenario.household_building[households]]
    controlled = level == LEVELS.index("controlled")  # at the door, so without a usable point
    return door_reasons(level, scenario.household_flags()[households], controlled, otherwise=BY_CHOICE)


def completion_figures(routes: Routes, households: np.ndarray, reason: np.ndarray) -> dict[str, float | int]:
    """Door visits, households asked for (with their `reason`) and when the last sealed (else any) visit ends."""
    sealed = households[reason == SEALED]
    sealed_served = np.isin(routes.household, sealed)
    finish = routes.depart[sealed_served] if len(sealed) else routes.depart
    return {
        "doorstep_households": len(routes),
        "households_requested": len(households),
        "sealed_households": len(sealed),
        "sealed_unserved": int(len(sealed) - sealed_served.sum()),
        "completion_minutes": round(float(finish.max()) / 60, 1) if len(finish) else 0.0,
        "completion_all_minutes": round(float(routes.depart.max()) / 60, 1) if len(routes) else 0.0,
    }


def tier_of(reason: np.ndarray) -> np.ndarray:
    """Priority tier: 0 sealed, 1 bedridden, 2 the rest (controlled without a point, by choice)."""
    return np.select([reason == SEALED, reason == BEDRIDDEN], [0, 1], 2).astype(np.int8)


def plan_doorstep(
    scenario: Scenario, households: np.ndarray, *, limits: SolverLimits, busy: np.ndarray | None = None
) -> DoorstepPlan:
    """Teams, duties and routes for the door visits of `households` (household rows).

    `busy` (bool, workers × slots) marks worker-slots already taken elsewhere.
    """
    began = time.perf_counter()
    households = np.unique(np.asarray(households, dtype=np.int64))
    reason = household_reasons(scenario, households)
    tier = tier_of(reason)
    building = scenario.household_building[households].astype(np.int64)
    community = scenario.buildings.community[building].astype(np.int64)
    calendar = Calendar(scenario, busy)
    stats = _Stats()

    # Communities with the most urgent doors first. Each is planned with its own workers;
    # only a community they cannot finish is planned again, in a second pass, with workers
    # without a community too (who alone staff the public points, ruling 5).
    urgent = np.bincount(community[tier == 0], minlength=len(scenario.communities))
    present = np.unique(community)
    order = present[np.lexsort((present, -urgent[present]))]
    pool_figures = _pool(scenario, calendar, present)
    results: dict[int, tuple[list[_Team], dict[int, str]]] = {}
    second: list[int] = []
    for shared in (False, True):
        for c in order.tolist() if not shared else second:
            mine = community == c
            planner = _Community(scenario, calendar, c, limits, stats, shared=shared)
            kept = calendar.occupied[planner.workers].copy()
            got, left = planner.plan(households[mine], building[mine], tier[mine], reason[mine])
            if left and not shared and planner.could_share:
                calendar.occupied[planner.workers] = kept  # give the community's own workers back
                second.append(c)
                continue
            results[c] = (got, left)

    teams: list[_Team] = []
    unserved: dict[int, str] = {}
    bounds: list[float] = []
    for c in order.tolist():
        got, left = results[c]
        teams.extend(got)
        unserved.update(left)
        bound = _completion_bound(scenario, got, households, reason)
        if bound is not None:
            bounds.append(bound)

    plan = _assemble(scenario, teams, unserved)
    plan.kpis = _kpis(scenario, plan, teams, households, reason, bounds, pool_figures, stats)
    plan.kpis["plan_seconds"] = round(time.perf_counter() - began, 3)
    return plan


def _pool(scenario: Scenario, calendar: Calendar, communities: np.ndarray) -> dict[str, int]:
    """Doorstep+sample workers and helpers who may serve a community with door visits and have a free slot."""
    wk = scenario.workers
    may_serve = np.isin(wk.community, communities) | (wk.community == NO_REF)
    free = calendar.available.any(axis=1) & ~calendar.occupied.all(axis=1)
    door = (wk.skills & SKILL_BIT["doorstep"]) != 0
    both = (wk.skills & SAMPLER_SKILLS) == SAMPLER_SKILLS
    return {
        "samplers_available": int((may_serve & free & both).sum()),
        "helpers_available": int((may_serve & free & door & ~both).sum()),
    }


class _Community:
    """Teams and routes for one community's door visits."""

    def __init__(
        self,
        scenario: Scenario,
        calendar: Calendar,
        community: int,
        limits: SolverLimits,
        stats: _Stats,
        *,
        shared: bool,
    ) -> None:
        self.scenario = scenario
        self.calendar = calendar
        self.community = community
        self.limits = limits
        self.stats = stats
        st = scenario.settings
        self.slot_s = st.slot_minutes * 60
        self.visit_s = st.doorstep_minutes_per_household * 60
        self.horizon = st.round_minutes * 60
        wk = scenario.workers
        own = wk.community == community
        public = wk.community == NO_REF
        may_serve = own | (public & shared)
        door = (wk.skills & SKILL_BIT["doorstep"]) != 0
        both = (wk.skills & SAMPLER_SKILLS) == SAMPLER_SKILLS
        self.workers = np.flatnonzero(own & door)  # the community's own doorstep workers
        self.could_share = bool((public & both).any())
        samplers = np.flatnonzero(may_serve & both)
        self.samplers = samplers[np.lexsort((samplers, public[samplers]))]
        helpers = np.flatnonzero(may_serve & door & ~both)
        other_skills = np.array([bin(int(s)).count("1") for s in wk.skills[helpers]], dtype=np.int64)
        self.helpers = helpers[np.lexsort((helpers, public[helpers], other_skills))]
        self.samplers_available = 0

    @property
    def name(self) -> str:
        return self.scenario.communities[self.community]

    def plan(
        self, households: np.ndarray, building: np.ndarray, tier: np.ndarray, reason: np.ndarray
    ) -> tuple[list[_Team], dict[int, str]]:
        places = Places.of(self.scenario, building)
        place = places.index(building)
        place_of = dict(zip(households.tolist(), place.tolist(), strict=True))
        reason_of = dict(zip(households.tolist(), reason.tolist(), strict=True))

        # Duties the pool could work, earliest end first (own workers before shared ones).
        min_slots = max(1, -(-self.visit_s // self.slot_s))
        candidates = [d for w in self.samplers.tolist() for d in self.calendar.candidates(w, min_slots)]
        public = self.scenario.workers.community == NO_REF
        candidates.sort(key=lambda d: (d.stop, bool(public[d.worker]), d.first, d.worker))
        self.samplers_available = len({d.worker for d in candidates})
        if not candidates:
            detail = (
                f"community {self.name}: no worker with doorstep and sample skills is free for it in the round "
                f"({len(self.samplers)} may serve it)"
            )
            return [], {h: f"{detail}; {REASON_TEXT[reason_of[h]]}" for h in households.tolist()}

        # Each tier's households in the order of a short walking tour of their buildings.
        tours: list[np.ndarray] = []
        work = len(households) * self.visit_s
        for t in np.unique(tier).tolist():
            mine = tier == t
            visited = np.unique(place[mine])
            order, limited = open_tour(places.walk[np.ix_(visited, visited)], self.limits)
            self.stats.tours += 1
            self.stats.time_limited += int(limited)
            rank = np.empty(len(places), dtype=np.int64)
            rank[visited[order]] = np.arange(len(order))
            seq = np.lexsort((households[mine], rank[place[mine]]))
            tours.append(households[mine][seq])
            stops = visited[order]
            work += int(places.walk[stops[:-1], stops[1:]].sum())

        capacity = np.cumsum([d.slots * self.slot_s for d in candidates])
        take = int(np.searchsorted(capacity, work * WORK_MARGIN)) + 1
        selections = [candidates[:take]]
        if take < len(candidates):
            selections.append(candidates)
        runs: list[_Run] = []
        left: list[int] = []
        for selected in selections:
            runs, left = self._route(tours, places, place_of, selected)
            if not left:
                break
        teams = self._form_teams(runs)
        if not left:
            return teams, {}
        offered = sum(d.slots for d in selections[-1]) * self.slot_s / 3600
        detail = (
            f"community {self.name}: door visits do not fit in the duties of its {self.samplers_available} "
            f"doorstep+sample worker(s) ({offered:.1f} team-hours possible, about {work / 3600:.1f} needed)"
        )
        return teams, {h: f"{detail}; {REASON_TEXT[reason_of[h]]}" for h in left}

    def _route(
        self, tours: list[np.ndarray], places: Places, place_of: dict[int, int], duties: list[Duty]
    ) -> tuple[list[_Run], list[int]]:
        """Fill the duties tier by tier (split of the tour, then the router); return runs and households left."""
        runs = [_Run(d, d.first * self.slot_s, -1, d.stop * self.slot_s) for d in duties]
        left: list[int] = []
        for tour in tours:
            order = sorted(range(len(runs)), key=lambda v: (runs[v].t, v))
            vehicles = [Vehicle(runs[v].t, runs[v].end, runs[v].at) for v in order]
            tour_place = np.array([place_of[h] for h in tour.tolist()], dtype=np.int64)
            counts, finish = split_tour(tour_place, vehicles, places.walk, self.visit_s)
            # Stops: each stretch cut at building changes. The tail that fits no duty is not
            # offered to the router (all duties are full); the top-up below takes what it can.
            stop_place: list[int] = []
            stop_households: list[np.ndarray] = []
            initial: list[list[int]] = []
            bounds = np.cumsum([0, *counts])
            for j in range(len(counts)):
                piece, piece_place = tour[bounds[j] : bounds[j + 1]], tour_place[bounds[j] : bounds[j + 1]]
                cut = np.flatnonzero(piece_place[1:] != piece_place[:-1]) + 1
                stretch: list[int] = []
                for hh in np.split(piece, cut) if len(piece) else []:
                    stretch.append(len(stop_place))
                    stop_place.append(place_of[int(hh[0])])
                    stop_households.append(hh)
                initial.append(stretch)
            sizes = np.array([len(h) for h in stop_households], dtype=np.int64)
            stop_place_arr = np.array(stop_place, dtype=np.int64)
            dropped = [tour[bounds[-1] :]]
            # The router polishes blocks of teams that are neighbours in the split (they hold
            # neighbouring stretches of the tour): one search over a hundred teams would spend
            # its time scanning moves between teams far apart.
            for first in range(0, len(order), ROUTER_BLOCK):
                block = range(first, min(first + ROUTER_BLOCK, len(order)))
                ids = np.array([k for j in block for k in initial[j]], dtype=np.int64)
                local = {int(k): i for i, k in enumerate(ids)}
                routed = route_stops(
                    stop_place_arr[ids],
                    sizes[ids] * self.visit_s,
                    sizes[ids],
                    places.walk,
                    [vehicles[j] for j in block],
                    self.horizon,
                    self.limits,
                    initial=[[local[k] for k in initial[j]] for j in block],
                    target=finish or None,
                )
                self.stats.solves += 1
                self.stats.time_limited += int(routed.time_limited)
                self.stats.route_seconds += routed.seconds
                dropped.extend(stop_households[int(ids[k])] for k in routed.dropped)
                for j, seq in zip(block, routed.routes, strict=True):
                    run = runs[order[j]]
                    for k in seq:
                        stop = int(ids[k])
                        hh = stop_households[stop]
                        if run.room(places.walk, stop_place[stop], self.visit_s) >= len(hh):
                            run.add(places.walk, stop_place[stop], hh, self.visit_s)
                        else:  # never expected: the router keeps the same times
                            dropped.append(hh)
            rest = np.concatenate(dropped)
            left.extend(self._top_up(runs, places, place_of, rest))
        return runs, left

    def _top_up(self, runs: list[_Run], places: Places, place_of: dict[int, int], rest: np.ndarray) -> list[int]:
        """Fit left-over households one by one into what is left of the duties, nearest building first."""
        waiting: dict[int, list[int]] = {}
        for h in sorted(rest.tolist()):
            waiting.setdefault(place_of[h], []).append(h)
        for run in runs:
            while waiting:
                open_places = sorted(waiting)
                steps = [int(places.walk[run.at, p]) if run.at >= 0 else 0 for p in open_places]
                fitting = [
                    (s, p)
                    for s, p in zip(steps, open_places, strict=True)
                    if run.room(places.walk, p, self.visit_s) > 0
                ]
                if not fitting:
                    break
                _, place = min(fitting)
                n = run.room(places.walk, place, self.visit_s)
                queue = waiting[place]
                run.add(places.walk, place, np.array(queue[:n], dtype=np.int64), self.visit_s)
                del queue[:n]
                if not queue:
                    del waiting[place]
        return sorted(h for queue in waiting.values() for h in queue)

    def _form_teams(self, runs: list[_Run]) -> list[_Team]:
        """Teams for the duties that got visits: trimmed duty, sampler and (where free) a helper."""
        used = sorted((r for r in runs if r.visits), key=lambda r: (r.duty.first, r.duty.worker))
        teams: list[_Team] = []
        for run in used:
            start = run.duty.first * self.slot_s
            last = max(depart for _, _, depart in run.visits)
            stop_slot = -(-last // self.slot_s)
            self.calendar.take(run.duty.worker, run.duty.first, stop_slot)
            helper = NO_REF
            for h in self.helpers.tolist():
                if self.calendar.can_take(h, run.duty.first, stop_slot):
                    self.calendar.take(h, run.duty.first, stop_slot)
                    helper = h
                    break
            teams.append(_Team(self.community, run.duty, helper, start, stop_slot * self.slot_s, run.visits))
        return teams


def _completion_bound(
    scenario: Scenario, teams: list[_Team], households: np.ndarray, reason: np.ndarray
) -> float | None:
    """A lower bound (seconds) on when this community's last sealed household is sampled, given its teams.

    The sealed households served need their door time plus, for each sealed building, the
    walk from the nearest other door building (a route's first door excepted, one per
    team); by time C a team can have given at most min(C, end) - start of its duty window,
    so C is at least the earliest time at which the windows together hold that work.
    Without sealed households in the plan, the same over all door visits.
    """
    if not teams:
        return None
    slot_s = scenario.settings.slot_minutes * 60
    visit_s = scenario.settings.doorstep_minutes_per_household * 60
    served = np.array(sorted(h for team in teams for h, _, _ in team.visits), dtype=np.int64)
    sealed = households[reason == SEALED]
    group = served[np.isin(served, sealed)] if len(sealed) else served
    if not len(group):
        return None
    places = Places.of(scenario, scenario.household_building[served])
    nearest = places.nearest_other()[places.index(np.unique(scenario.household_building[group]))]
    walk = max(0, int(nearest.sum()) - int(np.sort(nearest)[::-1][: len(teams)].sum()))
    windows = [Vehicle(t.duty.first * slot_s, t.duty.stop * slot_s, -1) for t in teams]
    return float(balanced_finish(windows, len(group) * visit_s + walk))


def _assemble(scenario: Scenario, teams: list[_Team], unserved: dict[int, str]) -> DoorstepPlan:
    """Team ids, roster and routes in a fixed order: community, then team start."""
    teams.sort(key=lambda t: (t.community, t.start, t.duty.worker))
    slot_s = scenario.settings.slot_minutes * 60
    ids: list[str] = []
    roster: list[tuple[int, int, int, int, int, int]] = []
    stops: list[tuple[int, int, int, int, int]] = []
    count: dict[int, int] = {}
    width = max([2, *(len(str(sum(1 for t in teams if t.community == c))) for c in {t.community for t in teams})])
    for row, team in enumerate(teams):
        count[team.community] = count.get(team.community, 0) + 1
        ids.append(f"T-{scenario.communities[team.community]}-{count[team.community]:0{width}d}")
        for worker in (team.duty.worker, team.helper):
            if worker != NO_REF:
                roster.append((worker, NO_REF, row, DOOR_ROLE, team.start, team.end))
        for seq, (h, arrive, depart) in enumerate(team.visits, start=1):
            stops.append((row, seq, h, arrive, depart))
    return DoorstepPlan(
        teams=ids,
        roster=Roster(*typed_columns(roster, ROSTER_DTYPES)),
        routes=Routes(*typed_columns(stops, ROUTE_DTYPES)),
        unserved=sorted(unserved.items()),
        kpis={},
        windows=[(t.duty.first * slot_s, t.duty.stop * slot_s) for t in teams],
    )


def _kpis(
    scenario: Scenario,
    plan: DoorstepPlan,
    teams: list[_Team],
    households: np.ndarray,
    reason: np.ndarray,
    bounds: list[float],
    pool: dict[str, int],
    stats: _Stats,
) -> dict[str, float | int]:
    routes, roster = plan.routes, plan.roster
    walk = 0
    for team in range(len(plan.teams)):
        rows = np.flatnonzero(routes.team == team)
        arrive, depart = routes.arrive[rows], routes.depart[rows]
        walk += int((arrive[1:] - depart[:-1]).sum())
    samplers = {t.duty.worker for t in teams}
    helpers = {t.helper for t in teams if t.helper != NO_REF}
    return {
        **completion_figures(routes, households, reason),
        "unserved_households": len(plan.unserved),
        "lower_bound_minutes": round(max(bounds) / 60, 1) if bounds else 0.0,
        "teams": len(plan.teams),
        "team_hours": round(sum(t.end - t.start for t in teams) / 3600, 2),
        "member_hours": round(float((roster.end - roster.start).sum()) / 3600, 2),
        "busy_hours": round(len(routes) * scenario.settings.doorstep_minutes_per_household / 60, 2),
        "walk_minutes": round(walk / 60, 1),
        "samplers_used": len(samplers),
        "samplers_available": pool["samplers_available"],
        "helpers_used": len(helpers),
        "helpers_available": pool["helpers_available"],
        "routing_solves": stats.solves,
        "tour_solves": stats.tours,
        "time_limited_solves": stats.time_limited,
        "route_seconds": round(stats.route_seconds, 3),
    }


def apply_doorstep(scenario: Scenario, schedule: Schedule, plan: DoorstepPlan) -> None:
    """Put a plan's door visits, teams, routes and members into `schedule`, replacing its door visits.

    Point visits and point roster rows stay; every earlier door visit, team and team roster
    row goes. Residents of planned households get mode DOORSTEP with their team and visit;
    residents of the plan's unserved households, and of households that were at the door
    before but are not in the plan, are listed unserved (no_doorstep_team).
    `has_roster` and the KPIs are left as they are: the caller recomputes the KPIs.
    """
    household = scenario.residents.household
    n_h = len(scenario.households)
    previous_door = np.zeros(n_h, dtype=bool)
    previous_door[household[schedule.mode == DOORSTEP]] = True

    old = schedule.mode == DOORSTEP
    schedule.mode[old] = UNSERVED
    schedule.team[old] = NO_REF
    schedule.start[old] = -1
    schedule.end[old] = -1

    routes = plan.routes
    stop_of = np.full(n_h, -1, dtype=np.int64)
    stop_of[routes.household] = np.arange(len(routes))
    residents = np.flatnonzero(stop_of[household] >= 0)
    stop = stop_of[household[residents]]
    schedule.mode[residents] = DOORSTEP
    schedule.point[residents] = NO_REF
    schedule.team[residents] = routes.team[stop]
    schedule.start[residents] = routes.arrive[stop]
    schedule.end[residents] = routes.depart[stop]
    schedule.teams = list(plan.teams)
    schedule.routes = plan.routes

    keep = schedule.roster.team == NO_REF
    ro = schedule.roster
    schedule.roster = Roster(
        *(
            np.concatenate((getattr(ro, name)[keep], getattr(plan.roster, name)))
            for name in ("worker", "point", "team", "role", "start", "end")
        )
    )

    detail = dict(plan.unserved)
    planned = np.zeros(n_h, dtype=bool)
    planned[routes.household] = True
    planned[list(detail)] = True
    for h in np.flatnonzero(previous_door & ~planned & (stop_of < 0)).tolist():
        detail[h] = "door visit not in the doorstep plan"
    touched = planned | previous_door
    kept = [u for u in schedule.unserved if not touched[household[u.resident]]]
    listed = np.flatnonzero(np.isin(household, np.fromiter(detail, dtype=np.int64, count=len(detail))))
    added = [
        Unserved(r, "no_doorstep_team", detail[int(household[r])])
        for r in listed.tolist()
        if schedule.mode[r] == UNSERVED
    ]
    schedule.unserved = sorted(kept + added, key=lambda u: u.resident)
