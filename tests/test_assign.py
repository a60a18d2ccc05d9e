"""The assignment solver: valid on every fixture, honest, stable, deterministic, better than greedy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fixtures.generate import generate
from scheduler.assign.greedy import greedy_assignment
from scheduler.assign.repack import move_chain, repack_exactly
from scheduler.assign.solve import solve_assignment
from scheduler.domain import FLAG_BIT, LEVELS, NO_REF, SPECIAL_GROUPS_MASK, Scenario
from scheduler.kpis import CROWDED, point_slot_loads, walk_distances
from scheduler.ledger import read_scenario
from scheduler.limits import SolverLimits
from scheduler.schedule import DOORSTEP, POINT, Schedule, changed_visits, read_schedule, write_schedule
from scheduler.validate import check_folder, validate
from tests.ledgers import EXAMPLES, TINY, write_ledger

SALT = b"test-salt"


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated street (about 60,000 residents, several zones)."""
    folder = tmp_path_factory.mktemp("street")
    generate("street", 3, folder)
    return folder


def scenarios(tmp_path: Path, street: Path) -> dict[str, Path]:
    return {
        "tiny": write_ledger(tmp_path / "tiny"),
        "demo-community": EXAMPLES / "demo-community",
        "hangzhou-gongshu": EXAMPLES / "hangzhou-gongshu",
        "street": street,
    }


@pytest.mark.parametrize("name", ["tiny", "demo-community", "hangzhou-gongshu", "street"])
def test_solution_keeps_every_rule(tmp_path: Path, street: Path, name: str) -> None:
    """The schedule of each fixture passes the validator, written to files and read back."""
    folder = scenarios(tmp_path, street)[name]
    scenario = read_scenario(folder, salt=SALT)
    schedule = solve_assignment(scenario)
    assert validate(scenario, schedule).ok, validate(scenario, schedule).text()
    write_schedule(scenario, schedule, tmp_path / "out")
    report = check_folder(scenario, tmp_path / "out")
    assert report.ok, report.text()
    assert schedule.kpis["covered"] + len(schedule.unserved) == len(scenario.residents)


def test_zones_and_bedridden_go_to_the_door(street: Path) -> None:
    """Sealed buildings and bedridden households are served at the door; controlled ones stay in their compound."""
    scenario = read_scenario(street, salt=SALT)
    schedule = solve_assignment(scenario)
    level = scenario.building_level()[scenario.residents.building]
    assert (level == LEVELS.index("sealed")).any() and (level == LEVELS.index("controlled")).any()
    assert (schedule.mode[level == LEVELS.index("sealed")] == DOORSTEP).all()
    bedridden = (scenario.household_flags()[scenario.residents.household] & FLAG_BIT["bedridden"]) != 0
    assert bedridden.any() and (schedule.mode[bedridden] == DOORSTEP).all()
    controlled_at_point = (level == LEVELS.index("controlled")) & (schedule.mode == POINT)
    point_compound = scenario.points.compound[schedule.point[controlled_at_point]]
    assert (point_compound == scenario.buildings.compound[scenario.residents.building[controlled_at_point]]).all()


def without_timings(kpis: dict[str, Any]) -> dict[str, Any]:
    """The KPIs but for the `*_seconds` timings, the only figures allowed to differ between runs."""
    return {k: without_timings(v) if isinstance(v, dict) else v for k, v in kpis.items() if not k.endswith("_seconds")}


def test_same_input_same_bytes(tmp_path: Path) -> None:
    """Two solves of one ledger write identical files (kpis.json but for its timings)."""
    scenario = read_scenario(EXAMPLES / "hangzhou-gongshu", salt=SALT)
    for run in ("a", "b"):
        write_schedule(scenario, solve_assignment(scenario), tmp_path / run)
    for name in ("assignments.csv", "roster.csv", "routes.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    a, b = (json.loads((tmp_path / run / "kpis.json").read_text()) for run in ("a", "b"))
    assert without_timings(a) == without_timings(b)


def test_unchanged_scenario_changes_no_visit(tmp_path: Path) -> None:
    """Re-solving against the published schedule of an unchanged scenario changes no visit."""
    scenario = read_scenario(EXAMPLES / "hangzhou-gongshu", salt=SALT)
    write_schedule(scenario, solve_assignment(scenario), tmp_path / "v1")
    previous, problems = read_schedule(scenario, tmp_path / "v1")
    assert problems == []
    again = solve_assignment(scenario, previous=previous)
    assert again.kpis["objective"]["changed_visits"] == 0
    assert len(changed_visits(previous, again)) == 0


def _close_busiest_point(folder: Path, scenario: Scenario, schedule: Schedule, out: Path) -> str:
    """Copy the ledger with the busiest point's desks set to 0; return that point's id."""
    busiest = int(np.bincount(schedule.point[schedule.mode == POINT]).argmax())
    point_id = scenario.points.ids[busiest]
    out.mkdir()
    for path in folder.iterdir():
        text = path.read_text("utf-8")
        if path.name == "points.csv":
            lines = text.splitlines(keepends=True)
            header = lines[0].rstrip("\n").split(",")
            desks = header.index("desks")
            for i, line in enumerate(lines):
                cells = line.rstrip("\n").split(",")
                if cells[0] == point_id:
                    cells[desks] = "0"
                    lines[i] = ",".join(cells) + "\n"
            text = "".join(lines)
        (out / path.name).write_text(text, "utf-8")
    return point_id


def test_closing_a_point_moves_only_its_residents(tmp_path: Path) -> None:
    """Closing the busiest point moves exactly its residents and keeps everyone else's visit."""
    folder = EXAMPLES / "hangzhou-gongshu"
    scenario = read_scenario(folder, salt=SALT)
    before = solve_assignment(scenario)
    point_id = _close_busiest_point(folder, scenario, before, tmp_path / "closed")
    closed = read_scenario(tmp_path / "closed", salt=SALT)
    after = solve_assignment(closed, previous=before)
    assert validate(closed, after).ok
    was_there = np.flatnonzero((before.mode == POINT) & (before.point == scenario.points.ids.index(point_id)))
    moved = changed_visits(before, after)
    assert set(moved.tolist()) == set(was_there.tolist())
    assert after.kpis["objective"]["changed_visits"] == len(was_there) > 0


def test_unservable_residents_are_listed_with_reasons(tmp_path: Path) -> None:
    """Too little capacity and a building out of reach give no_capacity and no_point_in_reach, whole households."""
    points = (
        "point_id,name,community_id,compound_id,lat,lon,desks,hours,accessible\n"
        "P1,tiny desk,,,34.26,108.94,1,07:00-07:30,true\n"
    )
    # slot_minutes 30 and one desk at 2 per hour: one slot holds one person.
    changes = {
        "points.csv": points,
        "zones.csv": "level,scope,target_id\n",
        "scenario.toml": TINY["scenario.toml"].replace(
            "slot_minutes = 20", "slot_minutes = 30\ndesk_rate_per_hour = 2"
        ),
    }
    scenario = read_scenario(write_ledger(tmp_path, changes), salt=SALT)
    schedule = solve_assignment(scenario)
    assert validate(scenario, schedule).ok, validate(scenario, schedule).text()
    reasons = {scenario.residents.ids[u.resident]: u.reason for u in schedule.unserved}
    # R1 (B1, beside P1) fits alone; household H2 (R2, R3) has no room; R4 lives 2.8 km away.
    assert schedule.mode[0] == POINT
    assert reasons == {"R2": "no_capacity", "R3": "no_capacity", "R4": "no_point_in_reach"}
    assert all(u.detail for u in schedule.unserved)


def test_special_groups_prefer_accessible_points(street: Path) -> None:
    """Special groups are at accessible points more often than everyone else."""
    scenario = read_scenario(street, salt=SALT)
    schedule = solve_assignment(scenario)
    at_point = schedule.mode == POINT
    special = ((scenario.residents.flags & SPECIAL_GROUPS_MASK) != 0) & at_point
    accessible = scenario.points.accessible[schedule.point]
    assert accessible[special].mean() > accessible[at_point & ~special].mean()
    assert schedule.kpis["special_at_accessible_share"] == pytest.approx(accessible[special].mean(), abs=1e-4)


def test_beats_the_greedy_coordinator(street: Path) -> None:
    """Against nearest-point earliest-slot greedy: as many at points, a fraction of the crowding, near-bound walking."""
    scenario = read_scenario(street, salt=SALT)
    optimised = solve_assignment(scenario)
    greedy = greedy_assignment(scenario)
    assert (optimised.mode == POINT).sum() >= (greedy.mode == POINT).sum()
    capacity = scenario.settings.slot_capacity(scenario.points.desks)[:, None]
    utilisation = point_slot_loads(scenario, greedy) / np.maximum(capacity, 1)
    at_point = greedy.mode == POINT
    greedy_crowded = (utilisation[greedy.point[at_point], greedy.start[at_point] // 1800] > CROWDED).mean()
    assert optimised.kpis["share_in_crowded_slots"] < greedy_crowded / 2
    greedy_walk = float(walk_distances(scenario, greedy).sum())
    assert optimised.kpis["walk_m_lower_bound"] <= optimised.kpis["walk_m_total"] <= greedy_walk * 1.01
    assert optimised.kpis["walk_gap"] < 0.01


def test_scattered_places_are_repacked_exactly(tmp_path: Path) -> None:
    """When free places are scattered over slots, CP-SAT re-packs the point so every household fits."""
    sizes = [2, 2, 4, 2, 2, 3, 3]  # 18 people; three slots of 6 take them only as {4,2} {2,2,2} {3,3}
    rows = [f"R{h}-{m},H{h},B1,1990,,," for h, size in enumerate(sizes, start=1) for m in range(size)]
    changes = {
        "scenario.toml": 'name = "packing"\nstart = 2022-03-14T07:00:00\ndesk_rate_per_hour = 12\n',
        "buildings.csv": "building_id,community_id,compound_id,lat,lon,floors\nB1,C1,K1,34.26,108.94,6\n",
        "residents.csv": TINY["residents.csv"].splitlines()[0] + "\n" + "\n".join(rows) + "\n",
        "points.csv": "point_id,name,community_id,compound_id,lat,lon,desks,hours,accessible\n"
        "P1,,C1,,34.261,108.94,1,07:00-08:30,true\n",
        "workers.csv": "",
        "zones.csv": "",
    }
    scenario = read_scenario(write_ledger(tmp_path, changes), salt=SALT)
    schedule = solve_assignment(scenario)
    assert schedule.unserved == []
    assert validate(scenario, schedule).ok, validate(scenario, schedule).text()
    assert sorted(np.bincount(schedule.start // 1800).tolist()) == [6, 6, 6]


def test_sealing_mid_round_keeps_routes_under_way(tmp_path: Path) -> None:
    """A building sealed mid-round gets door visits; every published door visit and point visit stays as it was."""
    folder = EXAMPLES / "hangzhou-gongshu"
    scenario = read_scenario(folder, salt=SALT)
    write_schedule(scenario, solve_assignment(scenario), tmp_path / "v1")
    published, problems = read_schedule(scenario, tmp_path / "v1")
    assert problems == [] and (published.mode == DOORSTEP).any()
    # Seal the building with the most residents at points.
    building = int(np.bincount(scenario.residents.building[published.mode == POINT]).argmax())
    changed = tmp_path / "sealed"
    changed.mkdir()
    for path in folder.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    with (changed / "zones.csv").open("a", encoding="utf-8") as f:
        f.write(f"sealed,building,{scenario.buildings.ids[building]}\n")
    resealed = read_scenario(changed, salt=SALT)
    after = solve_assignment(resealed, previous=published)
    assert validate(resealed, after).ok, validate(resealed, after).text()
    newly_sealed = scenario.residents.building == building
    assert (after.mode[newly_sealed] == DOORSTEP).all()
    moved_to_door = newly_sealed & (published.mode == POINT)  # a bedridden household there keeps its visit
    assert set(changed_visits(published, after).tolist()) == set(np.flatnonzero(moved_to_door).tolist())
    assert after.kpis["doorstep"]["kept_visits"] == len(published.routes)
    # The door figures are the whole plan's, kept visits included, not the newly planned part's.
    door = after.kpis["doorstep"]
    assert door["doorstep_households"] == len(after.routes) > len(published.routes)
    assert door["completion_all_minutes"] == round(float(after.routes.depart.max()) / 60, 1)
    assert door["completion_all_minutes"] >= published.kpis["doorstep"]["completion_all_minutes"]


def test_previous_schedule_of_another_round_keeps_nothing_and_breaks_nothing(tmp_path: Path) -> None:
    """Previous visits outside this round or off its slot grid are not kept, and do not break the re-solve."""
    scenario = read_scenario(write_ledger(tmp_path), salt=SALT)
    previous = solve_assignment(scenario)
    [r1] = np.flatnonzero(previous.mode == POINT)
    for start in (30 * 3600, 25 * 60):  # the next day of a longer round; not on the 20-minute grid
        previous.start[r1] = start
        schedule = solve_assignment(scenario, previous=previous)
        assert validate(scenario, schedule).ok, validate(scenario, schedule).text()
        assert schedule.start[r1] % 1200 == 0 and schedule.start[r1] < 24 * 3600


def test_capacity_is_integer_arithmetic(tmp_path: Path) -> None:
    """With 49 people an hour and 20-minute slots, 15 desks hold 245 a slot and the KPIs agree with the validator."""
    changes = {
        "scenario.toml": TINY["scenario.toml"] + "desk_rate_per_hour = 49\n",
        "points.csv": TINY["points.csv"].replace(",2,07:00-12:00", ",15,07:00-12:00"),
    }
    scenario = read_scenario(write_ledger(tmp_path, changes), salt=SALT)
    assert scenario.settings.slot_capacity(np.array([15, 16])).tolist() == [245, 261]
    assert scenario.settings.desks_for(np.array([245, 246, 0])).tolist() == [15, 16, 0]
    schedule = solve_assignment(scenario)
    assert validate(scenario, schedule).ok, validate(scenario, schedule).text()


def test_move_chains_are_valid_and_as_short_as_the_exact_repacking() -> None:
    """On random full points, a chain placement keeps every capacity and moves no more households than CP-SAT
    when CP-SAT needs one move; where no chain exists, CP-SAT still decides."""
    rng = np.random.default_rng(7)
    limits = SolverLimits(seed=0, time_limit_s=5.0, workers=1)
    found = exact_one = 0
    for _ in range(60):
        slots = np.arange(int(rng.integers(2, 7)), dtype=np.int32) * 2
        capacity = rng.integers(6, 13, size=len(slots))
        sizes, current, load = [], [], np.zeros(len(slots), dtype=np.int64)
        for _ in range(int(rng.integers(8, 30))):  # fill the slots at random, some nearly full
            size, k = int(rng.integers(1, 5)), int(rng.integers(len(slots)))
            if load[k] + size <= capacity[k]:
                sizes.append(size)
                current.append(int(slots[k]))
                load[k] += size
        free = capacity - load
        newcomer = int(free.max()) + 1  # fits no slot as they are, though the point may have room
        if newcomer > int(free.sum()):
            continue
        all_sizes = np.array([*sizes, newcomer])
        now = np.array([*current, NO_REF], dtype=np.int32)
        exact = repack_exactly(all_sizes, now, capacity, slots, limits)
        chained = move_chain(all_sizes, now, capacity, slots)
        if chained is None:
            continue
        found += 1
        assert chained[-1] in slots
        assert (np.bincount(np.searchsorted(slots, chained), weights=all_sizes, minlength=len(slots)) <= capacity).all()
        moved = int((chained[:-1] != now[:-1]).sum())
        assert exact is not None  # a chain is a packing: the exact model finds one too
        if int((exact[:-1] != now[:-1]).sum()) == 1:
            exact_one += 1
            assert moved == 1
    assert found >= 10 and exact_one >= 3, (found, exact_one)
