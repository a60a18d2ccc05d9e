"""Re-solving only the communities a zone change touches: valid, local, serving the sealed at the door."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fixtures.generate import generate
from scheduler.domain import NO_REF, Scenario
from scheduler.doorstep.routing import gls_steps
from scheduler.ledger import read_scenario
from scheduler.limits import SolverLimits
from scheduler.plan import solve_schedule
from scheduler.resolve import community_of_target, resolve_communities, with_zone
from scheduler.schedule import DOORSTEP, POINT, ROLES, Schedule, changed_visits
from scheduler.validate import validate
from workers.solving import partial_resolve

SALT = b"test-salt"
COMMUNITY = 3  # the community whose zone changes (seed 3: partly normal, partly controlled)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Schedule]:
    """A generated street (8 communities, about 60,000 residents) and its whole schedule."""
    folder = tmp_path_factory.mktemp("street")
    generate("street", 3, folder)
    scenario = read_scenario(folder, salt=SALT)
    return scenario, solve_schedule(scenario)


def duty_rows(scenario: Scenario, schedule: Schedule) -> set[tuple[str, str, str, int, int]]:
    """Roster rows by worker id, place id (point or team name), role and times."""
    ro = schedule.roster
    return {
        (
            scenario.workers.ids[w],
            scenario.points.ids[p] if p != NO_REF else schedule.teams[t],
            ROLES[r],
            int(a),
            int(b),
        )
        for w, p, t, r, a, b in zip(ro.worker, ro.point, ro.team, ro.role, ro.start, ro.end, strict=True)
    }


def target_of(scenario: Scenario, scope: str) -> int:
    """A normal (unzoned) compound or building of COMMUNITY with residents at points."""
    level = scenario.building_level()
    open_buildings = np.flatnonzero((scenario.buildings.community == COMMUNITY) & (level == 0))
    with_residents = np.intersect1d(open_buildings, scenario.residents.building)
    b = int(with_residents[0])
    return b if scope == "building" else int(scenario.buildings.compound[b])


@pytest.mark.parametrize("scope", ["building", "compound"])
def test_resolve_is_valid_and_local(published: tuple[Scenario, Schedule], scope: str) -> None:
    """Sealing a building or compound: the partial re-solve passes the validator and changes nothing elsewhere."""
    base, previous = published
    target = target_of(base, scope)
    scenario = with_zone(base, "sealed", scope, target)
    target_id = (base.buildings.ids if scope == "building" else base.compounds)[target]
    assert community_of_target(scenario, scope, target_id) == COMMUNITY
    schedule = resolve_communities(scenario, previous, {COMMUNITY})
    report = validate(scenario, schedule)
    assert report.ok, report.text()

    community = scenario.buildings.community[scenario.residents.building]
    changed = changed_visits(previous, schedule)
    assert len(changed) and (community[changed] == COMMUNITY).all()

    # Duties outside the affected part stay: points of other communities, public points other
    # communities' residents use, and other communities' door teams.
    point_community = scenario.point_community()
    others_at_point = (previous.mode == POINT) & (community != COMMUNITY)
    shared = np.zeros(len(scenario.points), dtype=bool)
    shared[previous.point[others_at_point]] = True
    team_community = {
        previous.teams[t]: int(scenario.buildings.community[scenario.household_building[h]])
        for t, h in zip(previous.routes.team, previous.routes.household, strict=True)
    }

    def outside(row: tuple[str, str, str, int, int]) -> bool:
        place = row[1]
        if place in team_community:
            return team_community[place] != COMMUNITY
        if place.startswith("T-"):
            return False  # a new team of the re-solved community
        p = scenario.points.ids.index(place)
        c = int(point_community[p])
        return bool(shared[p]) if c == NO_REF else c != COMMUNITY

    before = {row for row in duty_rows(scenario, previous) if outside(row)}
    after = {row for row in duty_rows(scenario, schedule) if outside(row)}
    assert before and before == after
    assert schedule.kpis["covered"] + len(schedule.unserved) == len(scenario.residents)


def test_sealed_residents_are_served_at_the_door(published: tuple[Scenario, Schedule]) -> None:
    """Residents of a newly sealed compound, at points before, are visited at home after the partial re-solve."""
    base, previous = published
    compound = target_of(base, "compound")
    scenario = with_zone(base, "sealed", "compound", compound)
    inside = scenario.buildings.compound[scenario.residents.building] == compound
    assert (previous.mode[inside] == POINT).any()
    schedule = resolve_communities(scenario, previous, {COMMUNITY})
    assert (schedule.mode[inside] == DOORSTEP).all()
    teams = {schedule.teams[t] for t in schedule.team[inside]}
    assert all(name.startswith(f"T-{scenario.communities[COMMUNITY]}-") for name in teams)


def test_unchanged_scenario_keeps_every_visit(published: tuple[Scenario, Schedule]) -> None:
    """Re-solving a community whose zones did not change moves nobody outside it and keeps the schedule valid."""
    scenario, previous = published
    schedule = resolve_communities(scenario, previous, {COMMUNITY})
    assert validate(scenario, schedule).ok
    community = scenario.buildings.community[scenario.residents.building]
    assert (community[changed_visits(previous, schedule)] == COMMUNITY).all()
    assert len(schedule.unserved) <= len(previous.unserved)


def test_needs_a_staffed_schedule(published: tuple[Scenario, Schedule]) -> None:
    """A published schedule whose roster does not staff its points cannot be re-solved in part."""
    scenario, previous = published
    with pytest.raises(ValueError, match="staffs its points"):
        resolve_communities(scenario, replace(previous, points_staffed=False), {COMMUNITY})


def test_worker_takes_the_partial_resolve(published: tuple[Scenario, Schedule]) -> None:
    """The workers' zone-change re-solve uses the partial re-solve of the changed target's community when valid."""
    base, previous = published
    building = target_of(base, "building")
    scenario = with_zone(base, "sealed", "building", building)
    schedule = partial_resolve(scenario, previous, [("building", base.buildings.ids[building])], SolverLimits())
    assert schedule is not None and validate(scenario, schedule).ok
    assert schedule.kpis["resolved_communities"] == [scenario.communities[COMMUNITY]]


def test_worker_falls_back_to_the_whole_solve(published: tuple[Scenario, Schedule]) -> None:
    """An unknown target or a schedule that cannot be re-solved in part gives None: the worker solves the whole."""
    scenario, previous = published
    assert partial_resolve(scenario, previous, [("compound", "no-such-compound")], SolverLimits()) is None
    unstaffed = replace(previous, points_staffed=False)
    target = [("community", scenario.communities[COMMUNITY])]
    assert partial_resolve(scenario, unstaffed, target, SolverLimits()) is None


def test_worker_solves_the_whole_when_every_community_changes(published: tuple[Scenario, Schedule]) -> None:
    """Changes touching every community leave no part to keep: no partial re-solve, the worker solves the whole."""
    scenario, previous = published
    targets = [("community", name) for name in scenario.communities]
    assert partial_resolve(scenario, previous, targets, SolverLimits()) is None


def test_a_short_router_search_is_valid_and_nearly_as_good(published: tuple[Scenario, Schedule]) -> None:
    """A tenth of the router's local search (a zone change's re-solve): valid, door visits done as early (±2 %)."""
    base, previous = published
    scenario = with_zone(base, "sealed", "compound", target_of(base, "compound"))
    full = resolve_communities(scenario, previous, {COMMUNITY})
    short = resolve_communities(scenario, previous, {COMMUNITY}, limits=SolverLimits(route_search=0.1))
    assert validate(scenario, short).ok
    door, short_door = full.kpis["resolved_part"]["doorstep"], short.kpis["resolved_part"]["doorstep"]
    assert short_door["unserved_households"] == door["unserved_households"]
    assert short_door["completion_minutes"] <= 1.02 * door["completion_minutes"]
    assert short_door["routing_solves"] == door["routing_solves"] > 0
    assert gls_steps(40, 0.1) == gls_steps(40) // 10 > 0 and gls_steps(40, 0.0) == 0
