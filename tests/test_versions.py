"""Schedule versions in the database: the stored scenario, drafts, publication, diffs (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from scheduler import domain
from scheduler.ledger import ledger_digest, read_scenario
from scheduler.plan import solve_schedule
from scheduler.schedule import DOORSTEP, POINT, UNSERVED, Schedule, Unserved, changed_visits
from scheduler.validate import validate
from store import versions
from store.ledger_import import import_scenario
from store.models import utcnow
from tests.ledgers import EXAMPLES

DEMO = EXAMPLES / "demo-community"


@pytest.fixture(scope="module")
def demo(salt: bytes) -> domain.Scenario:
    return read_scenario(DEMO, salt=salt)


@pytest.fixture(scope="module")
def solved(demo: domain.Scenario) -> Schedule:
    """The demo's schedule, solved once for the module."""
    return solve_schedule(demo)


@pytest.fixture
def scenario_id(db_engine: Engine, demo: domain.Scenario, salt: bytes) -> int:
    return import_scenario(db_engine, demo, ledger_digest(DEMO, salt=salt))[0]


def _count(engine: Engine, table: str, **where: object) -> int:
    t = sa.table(table, *(sa.column(k) for k in where))
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(t).where(*(t.c[k] == v for k, v in where.items()))
        return int(conn.execute(query).scalar_one())


def _add_change(engine: Engine, scenario_id: int, level: str, scope: str, target: str) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                versions.ZONE_CHANGE.insert()
                .values(
                    scenario_id=scenario_id,
                    level=level,
                    scope=scope,
                    target_id=target,
                    effective_at=datetime(2022, 4, 12, 9),
                    created_at=utcnow(),
                )
                .returning(versions.ZONE_CHANGE.c.id)
            ).scalar_one()
        )


def test_load_scenario_equals_the_ledger(db_engine: Engine, demo: domain.Scenario, scenario_id: int) -> None:
    """The scenario rebuilt from the tables equals the one read from the files (the demo is in id order)."""
    loaded = versions.load_scenario(db_engine, scenario_id)
    assert loaded.settings == demo.settings
    assert (loaded.communities, loaded.compounds, loaded.households) == (
        demo.communities,
        demo.compounds,
        demo.households,
    )
    for name in ("buildings", "residents", "points", "workers", "zones"):
        ours, theirs = getattr(loaded, name), getattr(demo, name)
        for field in dataclasses.fields(ours):
            a, b = getattr(ours, field.name), getattr(theirs, field.name)
            assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, f"{name}.{field.name}"
    assert loaded.warnings == demo.warnings
    with pytest.raises(versions.UnknownVersion):
        versions.load_scenario(db_engine, scenario_id + 1000)


def test_zone_changes_replace_their_targets_zone(db_engine: Engine, demo: domain.Scenario, scenario_id: int) -> None:
    """A change replaces the zone of its scope and target (normal lifts it); published-only by default."""
    sealed_building = demo.buildings.ids[int(np.flatnonzero(demo.building_level() == 3)[0])]
    compound = demo.compounds[0]
    lifted = _add_change(db_engine, scenario_id, "normal", "building", sealed_building)
    sealed = _add_change(db_engine, scenario_id, "sealed", "compound", compound)

    assert versions.load_scenario(db_engine, scenario_id).building_level().tolist() == demo.building_level().tolist()
    level = versions.load_scenario(db_engine, scenario_id, zone_changes_through=sealed).building_level()
    in_compound = np.array(demo.buildings.compound) == 0
    assert (level[in_compound] == domain.LEVELS.index("sealed")).all()
    b = demo.buildings.ids.index(sealed_building)
    assert level[b] == (3 if in_compound[b] else 0)
    only_lift = versions.load_scenario(db_engine, scenario_id, zone_changes_through=lifted).building_level()
    expected = demo.building_level()
    expected[b] = 0  # sealed by its own building row only (the demo's sealed buildings lie outside K03)
    assert only_lift.tolist() == expected.tolist()
    with db_engine.connect() as conn:
        assert versions.zone_rows(conn, scenario_id, through=sealed)[-1] == ("sealed", "compound", compound)
        assert len(versions.zone_rows(conn, scenario_id, through=sealed)) == len(demo.zones)  # one lifted, one added


def test_draft_round_trip(db_engine: Engine, demo: domain.Scenario, solved: Schedule, scenario_id: int) -> None:
    """A saved draft reads back as the same schedule: visits, roster, routes, KPIs, unserved, and still valid."""
    schedule = dataclasses.replace(solved, unserved=[*solved.unserved])
    first_unserved = int(np.flatnonzero(schedule.mode == POINT)[0])
    schedule = _unserve(demo, schedule, first_unserved)
    version_id = versions.save_draft(db_engine, scenario_id, schedule, cause="initial solve", parent_id=None, seed=3)
    back = versions.load_schedule(db_engine, version_id, demo)
    assert len(changed_visits(schedule, back)) == 0
    assert back.teams == sorted(schedule.teams)
    assert len(back.roster) == len(schedule.roster) > 0
    assert _duties(back, demo) == _duties(schedule, demo)
    assert _stops(back, demo) == _stops(schedule, demo)
    assert {k: v for k, v in back.kpis.items() if k != "points_staffed"} == schedule.kpis
    assert back.unserved == schedule.unserved and back.unserved
    assert (back.has_roster, back.points_staffed) == (schedule.has_roster, schedule.points_staffed)
    assert validate(demo, back).violated() == validate(demo, schedule).violated()
    assert _count(db_engine, "visit", version_id=version_id) == int((schedule.mode != UNSERVED).sum())
    with db_engine.connect() as conn:
        row = conn.execute(sa.select(versions.VERSION).where(versions.VERSION.c.id == version_id)).mappings().one()
    assert (row["status"], row["cause"], row["seed"], row["changed_visits"]) == ("draft", "initial solve", 3, None)
    assert row["kpis"]["unserved"][0]["resident_id"] == demo.residents.ids[first_unserved]


def _unserve(scenario: domain.Scenario, schedule: Schedule, resident: int) -> Schedule:
    """The schedule with one resident's household listed as unserved (no capacity)."""
    out = dataclasses.replace(
        schedule,
        mode=schedule.mode.copy(),
        point=schedule.point.copy(),
        start=schedule.start.copy(),
        end=schedule.end.copy(),
        unserved=list(schedule.unserved),
    )
    members = np.flatnonzero(scenario.residents.household == scenario.residents.household[resident])
    out.mode[members], out.point[members], out.start[members], out.end[members] = UNSERVED, -1, -1, -1
    out.unserved += [Unserved(int(m), "no_capacity", "test") for m in members]
    return out


def _duties(schedule: Schedule, scenario: domain.Scenario) -> list[tuple[object, ...]]:
    r = schedule.roster
    return sorted(
        (
            scenario.workers.ids[r.worker[i]],
            scenario.points.ids[r.point[i]] if r.point[i] != domain.NO_REF else schedule.teams[r.team[i]],
            int(r.role[i]),
            int(r.start[i]),
            int(r.end[i]),
        )
        for i in range(len(r))
    )


def _stops(schedule: Schedule, scenario: domain.Scenario) -> list[tuple[object, ...]]:
    r = schedule.routes
    return sorted(
        (
            schedule.teams[r.team[i]],
            int(r.seq[i]),
            scenario.households[r.household[i]],
            int(r.arrive[i]),
            int(r.depart[i]),
        )
        for i in range(len(r))
    )


def test_same_input_key_is_stored_once(db_engine: Engine, solved: Schedule, scenario_id: int) -> None:
    """A second draft with the same input key returns the first id and writes no row."""
    first = versions.save_draft(db_engine, scenario_id, solved, cause="a", parent_id=None, seed=0, input_key="k")
    visits = _count(db_engine, "visit")
    again = versions.save_draft(db_engine, scenario_id, solved, cause="b", parent_id=None, seed=1, input_key="k")
    other = versions.save_draft(db_engine, scenario_id, solved, cause="c", parent_id=None, seed=0, input_key="k2")
    assert again == first != other
    assert _count(db_engine, "schedule_version") == 2
    assert _count(db_engine, "visit") == 2 * visits


def test_failed_draft_stores_nothing(db_engine: Engine, solved: Schedule, scenario_id: int) -> None:
    """A draft whose rows the database refuses (two duties of one worker at one start) leaves no trace."""
    roster = solved.roster
    twice = dataclasses.replace(
        solved,
        roster=type(roster)(
            *(
                np.concatenate([getattr(roster, f.name), getattr(roster, f.name)[:1]])
                for f in dataclasses.fields(roster)
            )
        ),
    )
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.IntegrityError)):
        versions.save_draft(db_engine, scenario_id, twice, cause="x", parent_id=None, seed=0)
    assert _count(db_engine, "schedule_version") == _count(db_engine, "visit") == _count(db_engine, "duty") == 0


def test_publish_is_atomic_and_readers_see_the_newest(db_engine: Engine, solved: Schedule, scenario_id: int) -> None:
    """Drafts are invisible; the last published is the newest; a second publish is a no-op; stale parents refused."""
    first = versions.save_draft(db_engine, scenario_id, solved, cause="a", parent_id=None, seed=0)
    assert versions.newest_published(db_engine, scenario_id) is None
    versions.publish(db_engine, first)
    with db_engine.connect() as conn:
        stamp = conn.execute(sa.select(versions.VERSION.c.published_at).where(versions.VERSION.c.id == first)).scalar()
    versions.publish(db_engine, first)
    with db_engine.connect() as conn:
        assert (
            conn.execute(sa.select(versions.VERSION.c.published_at).where(versions.VERSION.c.id == first)).scalar()
            == stamp
        )
    second = versions.save_draft(db_engine, scenario_id, solved, cause="b", parent_id=first, seed=0)
    third = versions.save_draft(db_engine, scenario_id, solved, cause="c", parent_id=first, seed=0)
    assert versions.newest_published(db_engine, scenario_id) == first
    versions.publish(db_engine, third, only_if_newest=True)
    assert versions.newest_published(db_engine, scenario_id) == third
    with pytest.raises(versions.StalePublication):
        versions.publish(db_engine, second, only_if_newest=True)
    versions.publish(db_engine, second)  # a plain publication of an older draft makes it the newest
    assert versions.newest_published(db_engine, scenario_id) == second
    with pytest.raises(versions.UnknownVersion):
        versions.publish(db_engine, third + 1000)


def test_publish_marks_the_zone_changes_it_reflects(db_engine: Engine, solved: Schedule, scenario_id: int) -> None:
    """Publishing a version solved through change N marks changes up to N applied, and no later one."""
    a = _add_change(db_engine, scenario_id, "sealed", "compound", "C0001-K01")
    b = _add_change(db_engine, scenario_id, "precaution", "community", "C0001")
    version = versions.save_draft(
        db_engine, scenario_id, solved, cause="zone change", parent_id=None, seed=0, zone_change_through=a
    )
    with db_engine.connect() as conn:

        def applied() -> dict[int, int | None]:
            query = sa.select(versions.ZONE_CHANGE.c.id, versions.ZONE_CHANGE.c.applied_version_id)
            return {i: v for i, v in conn.execute(query).all()}

        assert applied() == {a: None, b: None}
        conn.rollback()
        versions.publish(db_engine, version)
        assert applied() == {a: version, b: None}


def test_visit_diff_names_the_changed_residents(
    db_engine: Engine, demo: domain.Scenario, solved: Schedule, scenario_id: int
) -> None:
    """The diff lists exactly the residents whose visit changed against the parent, old and new; its count is stored."""
    parent = versions.save_draft(db_engine, scenario_id, solved, cause="a", parent_id=None, seed=0)
    at_point = np.flatnonzero(solved.mode == POINT)
    moved = int(at_point[0])
    child = dataclasses.replace(solved, start=solved.start.copy(), end=solved.end.copy())
    child.start[moved] += 1800
    child.end[moved] += 1800
    child = _unserve(demo, child, int(at_point[-1]))
    version = versions.save_draft(db_engine, scenario_id, child, cause="b", parent_id=parent, seed=0)
    diff = versions.visit_diff(db_engine, version)
    expected = changed_visits(solved, child)
    assert [c.resident_id for c in diff] == sorted(demo.residents.ids[i] for i in expected)
    by_id = {c.resident_id: c for c in diff}
    change = by_id[demo.residents.ids[moved]]
    assert change.old is not None and change.new is not None
    assert (change.new.start - change.old.start).total_seconds() == 1800 and change.new.point_id == change.old.point_id
    gone = by_id[demo.residents.ids[int(at_point[-1])]]
    assert gone.new is None and gone.old is not None and gone.old.mode == "point"
    assert len(versions.visit_diff(db_engine, version, limit=1)) == 1
    assert versions.visit_diff(db_engine, parent) == []
    with db_engine.connect() as conn:
        stored = conn.execute(sa.select(versions.VERSION.c.changed_visits).where(versions.VERSION.c.id == version))
        assert stored.scalar() == len(expected)
    door = np.flatnonzero(solved.mode == DOORSTEP)
    assert len(door)  # the demo has sealed buildings: door visits are part of what is compared


def _same_schedule(a: Schedule, b: Schedule) -> bool:
    """Every field equal: arrays, teams, roster, routes, unserved, KPIs and flags."""
    for name in ("mode", "point", "team", "start", "end"):
        if not np.array_equal(getattr(a, name), getattr(b, name)):
            return False
    for table in ("roster", "routes"):
        x, y = getattr(a, table), getattr(b, table)
        if not all(np.array_equal(getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x)):
            return False
    return (a.teams, a.unserved, a.kpis, a.has_roster, a.points_staffed) == (
        b.teams,
        b.unserved,
        b.kpis,
        b.has_roster,
        b.points_staffed,
    )


def test_load_cache_reads_the_ledger_once_and_follows_zone_changes(
    db_engine: Engine, demo: domain.Scenario, scenario_id: int
) -> None:
    """A kept scenario equals a fresh load after new zone changes and publications; only its zones are new."""
    cache = versions.LoadCache()
    first = cache.load_scenario(db_engine, scenario_id)
    sealed = _add_change(db_engine, scenario_id, "sealed", "compound", demo.compounds[0])
    lifted = _add_change(db_engine, scenario_id, "normal", "compound", demo.compounds[0])
    for through in (None, sealed, lifted):
        kept = cache.load_scenario(db_engine, scenario_id, zone_changes_through=through)
        fresh = versions.load_scenario(db_engine, scenario_id, zone_changes_through=through)
        assert kept.residents is first.residents  # the ledger was not read again
        for field in dataclasses.fields(fresh.zones):
            assert np.array_equal(getattr(kept.zones, field.name), getattr(fresh.zones, field.name))
            assert getattr(kept.zones, field.name).dtype == getattr(fresh.zones, field.name).dtype
        assert kept.building_level().tolist() == fresh.building_level().tolist()
        assert kept.warnings == fresh.warnings and kept.residents.id_hash == fresh.residents.id_hash
    in_compound = np.array(demo.buildings.compound) == 0
    sealed_level = cache.load_scenario(db_engine, scenario_id, zone_changes_through=sealed).building_level()
    assert (sealed_level[in_compound] == domain.LEVELS.index("sealed")).all()
    # Another import of the same ledger (here: after the scenario is gone) is read anew.
    with db_engine.begin() as conn:
        conn.execute(versions.ZONE_CHANGE.delete())
        conn.execute(sa.delete(sa.table("scenario")))
    again = import_scenario(db_engine, demo, "again")[0]
    assert cache.load_scenario(db_engine, again).residents is not first.residents


def test_load_cache_serves_a_stored_version_as_load_schedule_reads_it(
    db_engine: Engine, demo: domain.Scenario, solved: Schedule, scenario_id: int
) -> None:
    """A version saved with the cache comes back from it equal, field by field, to what load_schedule reads."""
    cache = versions.LoadCache()
    scenario = cache.load_scenario(db_engine, scenario_id)
    schedule = _unserve(demo, solved, int(np.flatnonzero(solved.mode == POINT)[0]))
    assert schedule.unserved and len(schedule.routes) and len(schedule.roster)
    version = versions.save_draft(
        db_engine, scenario_id, schedule, cause="a", parent_id=None, seed=0, scenario=scenario, cache=cache
    )
    kept = cache.load_schedule(db_engine, version, scenario)
    read = versions.load_schedule(db_engine, version, scenario)
    assert kept is not read and _same_schedule(kept, read)
    assert cache.load_schedule(db_engine, version, scenario) is kept
    # Over a scenario of other rows (not the kept ledger's) it is read from the database.
    assert cache.load_schedule(db_engine, version, demo) is not kept
    # A draft found by its input key was not written by this call: nothing is kept for it.
    other = versions.LoadCache()
    key = versions.save_draft(db_engine, scenario_id, schedule, cause="k", parent_id=None, seed=0, input_key="k")
    again = versions.save_draft(
        db_engine, scenario_id, solved, cause="k", parent_id=None, seed=0, input_key="k", scenario=scenario, cache=other
    )
    assert again == key
    assert _same_schedule(
        other.load_schedule(db_engine, key, scenario), versions.load_schedule(db_engine, key, scenario)
    )


def _visit_rows(engine: Engine, version_id: int) -> list[tuple[object, ...]]:
    v = versions.VISIT
    columns = [c for c in v.c if c.name != "version_id"]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(*columns).where(v.c.version_id == version_id).order_by(v.c.resident_id)))


def test_a_draft_saved_against_its_parent_stores_the_same_rows(
    db_engine: Engine, demo: domain.Scenario, solved: Schedule, scenario_id: int
) -> None:
    """Copying the parent's unchanged visits in the database stores exactly the rows a full save stores."""
    parent = versions.save_draft(db_engine, scenario_id, solved, cause="a", parent_id=None, seed=0)
    previous = versions.load_schedule(db_engine, parent, demo)
    at_point = np.flatnonzero(solved.mode == POINT)
    child = dataclasses.replace(solved, start=solved.start.copy(), end=solved.end.copy(), teams=list(solved.teams))
    child.start[at_point[0]] += 1800  # a visit moved
    child.end[at_point[0]] += 1800
    child = _unserve(demo, child, int(at_point[-1]))  # a household dropped
    renamed = int(child.team[np.flatnonzero(child.mode == DOORSTEP)[0]])
    child.teams[renamed] += "-b"  # a door team renamed: its visits are new rows
    full = versions.save_draft(db_engine, scenario_id, child, cause="b", parent_id=parent, seed=0, input_key="full")
    delta = versions.save_draft(
        db_engine, scenario_id, child, cause="b", parent_id=parent, seed=0, input_key="delta", previous=previous
    )
    assert _visit_rows(db_engine, delta) == _visit_rows(db_engine, full) != _visit_rows(db_engine, parent)
    assert [c.resident_id for c in versions.visit_diff(db_engine, delta)] == [
        c.resident_id for c in versions.visit_diff(db_engine, full)
    ]
    assert len(versions.visit_diff(db_engine, delta)) == len(changed_visits(solved, child)) > 2
    with db_engine.connect() as conn:
        counts = conn.execute(
            sa.select(versions.VERSION.c.changed_visits).where(versions.VERSION.c.id.in_([full, delta]))
        ).all()
    assert counts[0] == counts[1]
    assert _same_schedule(versions.load_schedule(db_engine, delta, demo), versions.load_schedule(db_engine, full, demo))
