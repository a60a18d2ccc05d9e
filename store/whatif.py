"""Planners' what-if scenarios in the database: forks, their changes, and comparisons of two scenarios.

A fork is a `scenario` row (its settings as changed, a `whatif:` digest) plus a `scenario_fork`
row naming its parent and the imported scenario whose ledger tables it reads; its changes are
`scenario_change` rows (`scheduler.whatif` changes as JSON, in `seq` order). A fork copies no
ledger row: `store.versions.load_scenario` loads it as its parent (loaded the same way, so forks
of forks work) with its changes applied, then the zone changes recorded for the fork itself
(through the coordinators' zone-change path), which replace the zone of their target.

A fork's parent is read as it is when the fork is loaded (the parent's published zone changes
included). Changes may be added to a fork only while it has no schedule version and no forks of
its own, so a published version of a fork always matches its changes.

Solving a fork is an ordinary solve of its scenario id (`workers.jobs.request_solve`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from scheduler import domain
from scheduler.ledger.reader import read_source
from scheduler.schedule import Routes, Schedule
from scheduler.whatif import (
    Change,
    KpiRow,
    PointDifference,
    SetZone,
    added_worker_kinds,
    apply_changes,
    change_from_dict,
    change_to_dict,
    compare_kpis,
    point_differences,
    points_after,
    schedule_onto,
    zones_after,
)
from store import versions
from store.ledger_import import SCENARIO, scenario_summary
from store.models import ScenarioBase, ScenarioSummary, utcnow

_tables = SQLModel.metadata.tables
FORK = _tables["scenario_fork"]
CHANGE = _tables["scenario_change"]
JOB = _tables["job"]
WHATIF_DIGEST = "whatif:"  # ledger_digest prefix of a fork (it has no ledger of its own)
_SETTING_COLUMNS = tuple(name for name in ScenarioBase.model_fields if name not in ("name", "start"))


class NoSuchScenario(LookupError):
    """No scenario with that id (or it is not a fork where one is needed)."""


class ForkFrozen(RuntimeError):
    """The fork has a schedule version or forks of its own: fork it again instead of changing it."""


class NotSolved(LookupError):
    """A scenario to compare has no published version yet."""


@dataclass(frozen=True)
class Fork:
    scenario_id: int
    parent_id: int
    ledger_scenario_id: int


def fork_of(conn: Connection, scenario_id: int) -> Fork | None:
    """The fork row of a scenario; None for an imported scenario."""
    row = conn.execute(
        sa.select(FORK.c.scenario_id, FORK.c.parent_id, FORK.c.ledger_scenario_id).where(
            FORK.c.scenario_id == scenario_id
        )
    ).one_or_none()
    return None if row is None else Fork(*row)


def ledger_scenario_id(conn: Connection, scenario_id: int) -> int:
    """The scenario whose ledger tables (buildings, points, …) `scenario_id` reads: its own, or its fork's ledger."""
    fork = fork_of(conn, scenario_id)
    return scenario_id if fork is None else fork.ledger_scenario_id


def changes_of(conn: Connection, scenario_id: int) -> list[Change]:
    """A fork's own changes in order (empty for an imported scenario)."""
    rows = conn.execute(
        sa.select(CHANGE.c.kind, CHANGE.c.payload).where(CHANGE.c.scenario_id == scenario_id).order_by(CHANGE.c.seq)
    )
    return [change_from_dict({"kind": kind, **payload}) for kind, payload in rows]


def chain_changes(conn: Connection, scenario_id: int) -> list[Change]:
    """Every change from the imported scenario down to `scenario_id`, in the order they apply."""
    fork = fork_of(conn, scenario_id)
    return [] if fork is None else [*chain_changes(conn, fork.parent_id), *changes_of(conn, scenario_id)]


def _zone_changes(conn: Connection, scenario_id: int, through: int | None) -> list[Change]:
    """The fork's own zone changes (as `versions.zone_rows` selects them), as `SetZone` changes."""
    zc = versions.ZONE_CHANGE
    query = sa.select(zc.c.level, zc.c.scope, zc.c.target_id).where(zc.c.scenario_id == scenario_id)
    applied = zc.c.applied_version_id.is_not(None) if through is None else zc.c.id <= through
    query = query.where(applied)
    return [SetZone(level, scope, target) for level, scope, target in conn.execute(query.order_by(zc.c.id))]


def _forked(engine: Engine, fork: Fork, base: domain.Scenario, through: int | None) -> domain.Scenario:
    with engine.connect() as conn:
        changes = [*changes_of(conn, fork.scenario_id), *_zone_changes(conn, fork.scenario_id, through)]
        name = conn.execute(sa.select(SCENARIO.c.name).where(SCENARIO.c.id == fork.scenario_id)).scalar_one()
    changed = apply_changes(base, changes)
    return replace(changed, settings=replace(changed.settings, name=name))


def load_fork(engine: Engine, scenario_id: int, *, zone_changes_through: int | None) -> domain.Scenario | None:
    """A fork as the solvers see it (its parent loaded by `load_scenario`, its changes applied); None if no fork."""
    with engine.connect() as conn:
        fork = fork_of(conn, scenario_id)
    if fork is None:
        return None
    return _forked(engine, fork, versions.load_scenario(engine, fork.parent_id), zone_changes_through)


class _Skeleton(versions._StoredLedger):
    """The stored ledger without its residents: enough to check changes against, at any scale."""

    def _residents(self) -> Iterator[list[str]]:
        return iter(())


def skeleton(engine: Engine, scenario_id: int) -> domain.Scenario:
    """The scenario (a fork: with its changes) without residents; `NoSuchScenario` if there is none."""
    with engine.connect() as conn, conn.begin():
        fork = fork_of(conn, scenario_id)
        if fork is None:
            if conn.execute(sa.select(SCENARIO.c.id).where(SCENARIO.c.id == scenario_id)).scalar() is None:
                raise NoSuchScenario(f"no scenario {scenario_id}")
            stored = _Skeleton(conn, scenario_id, versions.zone_rows(conn, scenario_id))
            return read_source(stored, salt=b"", accept_suggestions=True)
    return _forked(engine, fork, skeleton(engine, fork.parent_id), None)


# --- what the views read: a fork's ledger rows as its changes leave them ----------------------------


def point_rows(conn: Connection, scenario_id: int, query: sa.Select[Any] | None = None) -> list[dict[str, Any]]:
    """The scenario's points as rows of the `point` table, by point id: a fork's are its ledger's with every
    change of its chain applied (`scheduler.whatif.points_after`). `query` (a select of the point table, e.g. cut
    to a coordinator's communities) narrows the ledger's rows; points a fork opens are not narrowed by it."""
    point = versions.POINT_TABLE
    selected = sa.select(point) if query is None else query
    rows = conn.execute(selected.where(point.c.scenario_id == ledger_scenario_id(conn, scenario_id))).mappings()
    return points_after(rows, chain_changes(conn, scenario_id))


def added_workers(conn: Connection, scenario_id: int) -> dict[str, str]:
    """The workers a fork's chain adds (they have no `worker` row), with their kind; empty for an imported one."""
    return added_worker_kinds(chain_changes(conn, scenario_id))


def zones_in_force(conn: Connection, scenario_id: int) -> list[tuple[str, str, str]]:
    """(level, scope, target id) in force for the published versions (`versions.zone_rows`); a fork's: its
    parent's, then its own zone changes (`set_zone`, then those posted to it), as `load_scenario` applies them."""
    fork = fork_of(conn, scenario_id)
    if fork is None:
        return versions.zone_rows(conn, scenario_id)
    own = [*changes_of(conn, scenario_id), *_zone_changes(conn, scenario_id, None)]
    return zones_after(zones_in_force(conn, fork.parent_id), own)


_FORK_COUNTS = ("points", "desks", "workers", "zones", *(f"workers_{name}" for name in domain.SKILL_BIT))


def summary(engine: Engine, scenario_id: int) -> ScenarioSummary | None:
    """`scenario_summary` for any scenario: a fork's counts are its ledger's, with the points, desks, workers
    and zones its changes leave (its skeleton's); None for no such scenario."""
    with engine.connect() as conn:
        fork = fork_of(conn, scenario_id)
    own = scenario_summary(engine, scenario_id)
    if fork is None or own is None:
        return own
    ledger = scenario_summary(engine, fork.ledger_scenario_id)
    assert ledger is not None  # a fork's ledger goes only with it (ON DELETE CASCADE)
    changed = skeleton(engine, scenario_id).summary()
    return own.model_copy(update={"counts": {**ledger.counts, **{k: changed[k] for k in _FORK_COUNTS}}})


def start_from(engine: Engine, scenario_id: int, scenario: domain.Scenario) -> Schedule | None:
    """What a fork's first solve stays close to: the newest published version of its nearest ancestor that has
    one, moved onto the fork's rows (`scenario`, the fork as loaded; `scheduler.whatif.schedule_onto`), so
    that only the residents its changes touch change their visit (the solvers' stability terms). Its door
    routes are left out: the fork plans its door visits whole (deterministic, so the same households and
    staff get the same routes). None for an imported scenario, or when no ancestor has a published version.
    (A fork with a version of its own is re-solved from that one.)"""
    with engine.connect() as conn:
        fork = fork_of(conn, scenario_id)
    while fork is not None:
        version_id = versions.newest_published(engine, fork.parent_id)
        if version_id is not None:
            ancestor = skeleton(engine, fork.parent_id)  # its points and workers; the residents are the fork's
            rows = replace(scenario, settings=ancestor.settings, points=ancestor.points, workers=ancestor.workers)
            moved = schedule_onto(versions.load_schedule(engine, version_id, rows), rows, scenario)
            # Door routes are planned afresh (not kept as under way): the fork's staff may route them better.
            return replace(moved, routes=Routes.empty())
        with engine.connect() as conn:
            fork = fork_of(conn, fork.parent_id)
    return None


# --- writing forks ---------------------------------------------------------------------------------


def _settings_values(settings: domain.RoundSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in _SETTING_COLUMNS}


def _insert_changes(conn: Connection, scenario_id: int, first_seq: int, changes: Sequence[Change]) -> None:
    now = utcnow()
    for seq, change in enumerate(changes, start=first_seq):
        values = change_to_dict(change)
        kind = values.pop("kind")
        conn.execute(
            CHANGE.insert().values(scenario_id=scenario_id, seq=seq, kind=kind, payload=values, created_at=now)
        )


def fork(engine: Engine, parent_id: int, name: str, changes: Sequence[Change]) -> int:
    """A new what-if scenario: `parent_id` with `changes`; return its id.

    The changes are checked against the parent first (`scheduler.whatif.WhatIfError` naming the
    bad one, nothing written); `NoSuchScenario` for an unknown parent.
    """
    changed = apply_changes(skeleton(engine, parent_id), changes)
    with engine.begin() as conn:
        parent = conn.execute(sa.select(SCENARIO).where(SCENARIO.c.id == parent_id)).mappings().one()
        scenario_id = int(
            conn.execute(
                SCENARIO.insert()
                .values(
                    name=name,
                    start=parent["start"],
                    **_settings_values(changed.settings),
                    ledger_digest=f"{WHATIF_DIGEST}{uuid.uuid4().hex}",
                    warnings=[],
                    created_at=utcnow(),
                )
                .returning(SCENARIO.c.id)
            ).scalar_one()
        )
        conn.execute(
            FORK.insert().values(
                scenario_id=scenario_id,
                parent_id=parent_id,
                ledger_scenario_id=ledger_scenario_id(conn, parent_id),
                created_at=utcnow(),
            )
        )
        _insert_changes(conn, scenario_id, 1, changes)
    return scenario_id


def add_changes(engine: Engine, scenario_id: int, changes: Sequence[Change]) -> None:
    """Append changes to a fork that has no version and no forks yet (`ForkFrozen` otherwise)."""
    with engine.connect() as conn:
        if fork_of(conn, scenario_id) is None:
            raise NoSuchScenario(f"scenario {scenario_id} is not a what-if fork")
        _require_unfrozen(conn, scenario_id)
    changed = apply_changes(skeleton(engine, scenario_id), changes)
    with engine.begin() as conn:
        _require_unfrozen(conn, scenario_id)
        last = conn.execute(sa.select(sa.func.max(CHANGE.c.seq)).where(CHANGE.c.scenario_id == scenario_id)).scalar()
        _insert_changes(conn, scenario_id, (last or 0) + 1, changes)
        conn.execute(SCENARIO.update().where(SCENARIO.c.id == scenario_id).values(**_settings_values(changed.settings)))


def _require_unfrozen(conn: Connection, scenario_id: int) -> None:
    version = conn.execute(
        sa.select(versions.VERSION.c.id).where(versions.VERSION.c.scenario_id == scenario_id).limit(1)
    ).scalar()
    if version is not None:
        raise ForkFrozen(f"scenario {scenario_id} has schedule version {version}: fork it again to change more")
    child = conn.execute(sa.select(FORK.c.scenario_id).where(FORK.c.parent_id == scenario_id).limit(1)).scalar()
    if child is not None:
        raise ForkFrozen(f"scenario {scenario_id} has fork {child}: fork it again to change more")
    # A job under way has read (or will read) the changes as they are: one more would not be in its answer.
    job = conn.execute(
        sa.select(JOB.c.id).where(JOB.c.scenario_id == scenario_id, JOB.c.status.in_(("queued", "running"))).limit(1)
    ).scalar()
    if job is not None:
        raise ForkFrozen(f"scenario {scenario_id} has job {job} under way: wait for it, or fork again to change more")


# --- reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioEntry:
    """A scenario as planners list them: fork or imported, its changes and its newest published version."""

    id: int
    name: str
    parent_id: int | None
    ledger_scenario_id: int
    changes: list[dict[str, Any]]
    version_id: int | None
    kpis: dict[str, Any] | None


def scenario_entry(engine: Engine, scenario_id: int) -> ScenarioEntry:
    """One scenario for planners; `NoSuchScenario` if there is none."""
    with engine.connect() as conn:
        name = conn.execute(sa.select(SCENARIO.c.name).where(SCENARIO.c.id == scenario_id)).scalar()
        if name is None:
            raise NoSuchScenario(f"no scenario {scenario_id}")
        fork = fork_of(conn, scenario_id)
        changes = [change_to_dict(c) for c in changes_of(conn, scenario_id)]
    version_id = versions.newest_published(engine, scenario_id)
    kpis = None
    if version_id is not None:
        with engine.connect() as conn:
            kpis = conn.execute(sa.select(versions.VERSION.c.kpis).where(versions.VERSION.c.id == version_id)).scalar()
    return ScenarioEntry(
        id=scenario_id,
        name=name,
        parent_id=None if fork is None else fork.parent_id,
        ledger_scenario_id=scenario_id if fork is None else fork.ledger_scenario_id,
        changes=changes,
        version_id=version_id,
        kpis=kpis,
    )


def list_entries(engine: Engine) -> list[ScenarioEntry]:
    """Every scenario, imported and forks, by id."""
    with engine.connect() as conn:
        ids = list(conn.execute(sa.select(SCENARIO.c.id).order_by(SCENARIO.c.id)).scalars())
    return [scenario_entry(engine, i) for i in ids]


@dataclass(frozen=True)
class Side:
    scenario_id: int
    name: str
    version_id: int


@dataclass(frozen=True)
class Comparison:
    """Two scenarios' newest published versions side by side."""

    a: Side
    b: Side
    kpis: list[KpiRow]
    points: list[PointDifference]  # points whose open state or residents differ
    residents_differ: int  # residents whose visit (place or time, or served at all) differs
    residents_moved: int  # of those, residents whose place differs (point, door, or served at all)


def _side(conn: Connection, engine: Engine, scenario_id: int) -> Side:
    name = conn.execute(sa.select(SCENARIO.c.name).where(SCENARIO.c.id == scenario_id)).scalar()
    if name is None:
        raise NoSuchScenario(f"no scenario {scenario_id}")
    version_id = versions.newest_published(engine, scenario_id)
    if version_id is None:
        raise NotSolved(f"scenario {scenario_id} has no published version yet: solve it first")
    return Side(scenario_id, name, version_id)


def _point_ids(conn: Connection, scenario_id: int) -> list[str]:
    return [p["point_id"] for p in point_rows(conn, scenario_id)]


def _loads(conn: Connection, version_id: int) -> dict[str, int]:
    visit = versions.VISIT
    query = (
        sa.select(visit.c.point_id, sa.func.count())
        .where(visit.c.version_id == version_id, visit.c.mode == "point")
        .group_by(visit.c.point_id)
    )
    return {point: int(n) for point, n in conn.execute(query)}


def compare(engine: Engine, a_id: int, b_id: int) -> Comparison:
    """The KPI table, the differing points and the residents whose visit differs, B against A."""
    with engine.connect() as conn:
        a, b = _side(conn, engine, a_id), _side(conn, engine, b_id)
        kpis = {
            vid: doc
            for vid, doc in conn.execute(
                sa.select(versions.VERSION.c.id, versions.VERSION.c.kpis).where(
                    versions.VERSION.c.id.in_([a.version_id, b.version_id])
                )
            )
        }
        points = point_differences(
            _point_ids(conn, a_id), _loads(conn, a.version_id), _point_ids(conn, b_id), _loads(conn, b.version_id)
        )
        changes = versions._changes(b.version_id, a.version_id).subquery()
        moved = sa.or_(
            changes.c.new_mode.is_distinct_from(changes.c.old_mode),
            changes.c.new_point_id.is_distinct_from(changes.c.old_point_id),
            changes.c.new_team_id.is_distinct_from(changes.c.old_team_id),
        )
        differ, moved_count = conn.execute(
            sa.select(sa.func.count(), sa.func.count().filter(moved)).select_from(changes)
        ).one()
    return Comparison(
        a=a,
        b=b,
        kpis=compare_kpis(kpis[a.version_id], kpis[b.version_id]),
        points=points,
        residents_differ=int(differ),
        residents_moved=int(moved_count),
    )
