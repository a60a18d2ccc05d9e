"""Schedule versions: the stored scenario as the solvers see it, drafts, publication, diffs.

A version is written whole in one transaction (`save_draft`) and becomes visible to readers
only when `publish` flips it, in one statement under the scenario's lock; it is never
changed afterwards (but for the publication itself). Readers take `newest_published`.

Row order: `load_scenario` builds the scenario from the tables ordered by their natural keys
(ids in code-point order on both databases), so the same stored ledger always gives the same
row numbers. A `Schedule` passed to `save_draft` without its `scenario` must follow that order.

Zone changes (`zone_change` rows) act on the zone rows of the ledger: the newest change of a
(scope, target) replaces every earlier row for that same scope and target (`normal` lifts it);
zones on other scopes still apply, the strictest one winning, as in the contract.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from scheduler import domain
from scheduler.ledger.columns import BUILDINGS, POINTS, RESIDENTS, WORKERS, ZONES, TableSpec
from scheduler.ledger.reader import SETTING_TYPES, read_source
from scheduler.ledger.sources import RawSettings, Table
from scheduler.schedule import (
    DOORSTEP,
    MODES,
    POINT,
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
from store.ledger_import import CHUNK_ROWS, SCENARIO, bulk_insert
from store.models import utcnow

_tables = SQLModel.metadata.tables
BUILDING = _tables["building"]
RESIDENT = _tables["resident"]
POINT_TABLE = _tables["point"]
WORKER = _tables["worker"]
ZONE = _tables["zone"]
VERSION = _tables["schedule_version"]
VISIT = _tables["visit"]
DUTY = _tables["duty"]
ROUTE_STOP = _tables["route_stop"]
ZONE_CHANGE = _tables["zone_change"]

NORMAL = "normal"  # a zone change to this level lifts the zone of its target


class UnknownVersion(LookupError):
    """No schedule version (or scenario) with that id."""


class StalePublication(RuntimeError):
    """The version was solved from a parent that is no longer the newest published version."""


@dataclass(frozen=True)
class VisitRow:
    """One resident's visit as stored (a row of assignments.csv)."""

    mode: str  # point or doorstep
    point_id: str | None
    team_id: str | None
    start: datetime
    end: datetime


@dataclass(frozen=True)
class VisitChange:
    """A resident whose visit differs from the parent version's; None: no visit (unserved) there."""

    resident_id: str
    old: VisitRow | None
    new: VisitRow | None


# --- the scenario --------------------------------------------------------------------------------


def _by_key(conn: Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """Order by an id in code-point order: PostgreSQL's default collation would sort otherwise."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class _StoredLedger:
    """The stored tables of one scenario, offered to the ledger reader as a ledger source.

    The reader then builds the `Scenario` exactly as from files. Id numbers and phones are not
    stored: the reader gets none and the stored hashes are put back after (`hashes`).
    """

    def __init__(self, conn: Connection, scenario_id: int, zone_rows: list[tuple[str, str, str]]) -> None:
        self.conn = conn
        self.scenario_id = scenario_id
        self.zone_rows = zone_rows
        self.hashes: tuple[list[str | None], list[str | None], list[str | None]] = ([], [], [])
        self.flag_texts = {
            mask: ";".join(domain.names_of(mask, domain.FLAGS)) for mask in range(1 << len(domain.FLAGS))
        }
        self.skill_texts = {
            mask: ";".join(domain.names_of(mask, domain.SKILLS)) for mask in range(1 << len(domain.SKILLS))
        }

    def settings(self) -> RawSettings | None:
        row = self.conn.execute(sa.select(SCENARIO).where(SCENARIO.c.id == self.scenario_id)).mappings().one_or_none()
        if row is None:
            raise UnknownVersion(f"no scenario {self.scenario_id}")
        return RawSettings("scenario (database)", {key: (row[key], None) for key in SETTING_TYPES})

    def _select(self, table: sa.Table, key: str, *columns: str) -> Iterator[Any]:
        query = (
            sa.select(*(table.c[c] for c in columns))
            .where(table.c.scenario_id == self.scenario_id)
            .order_by(_by_key(self.conn, table.c[key]))
        )
        return iter(self.conn.execution_options(yield_per=CHUNK_ROWS).execute(query))

    def table(self, spec: TableSpec) -> Table | None:
        rows: Iterable[list[str]]
        if spec is BUILDINGS:
            found = self._select(
                BUILDING, "building_id", "building_id", "community_id", "compound_id", "lat", "lon", "floors"
            )
            rows = ([b, c, k, repr(lat), repr(lon), _text(f)] for b, c, k, lat, lon, f in found)
        elif spec is RESIDENTS:
            rows = self._residents()
        elif spec is POINTS:
            found = self._select(
                POINT_TABLE,
                "point_id",
                "point_id",
                "lat",
                "lon",
                "desks",
                "hours",
                "name",
                "community_id",
                "compound_id",
                "accessible",
            )
            rows = (
                [p, repr(lat), repr(lon), str(d), h, n, _text(c), _text(k), "true" if a else "false"]
                for p, lat, lon, d, h, n, c, k, a in found
            )
        elif spec is WORKERS:
            found = self._select(
                WORKER, "worker_id", "worker_id", "kind", "skills", "available", "name", "community_id"
            )
            rows = ([w, kind, self.skill_texts[s], a, n, _text(c)] for w, kind, s, a, n, c in found)
        elif spec is ZONES:
            rows = ([level, scope, target] for level, scope, target in self.zone_rows)
        else:
            return None
        return Table(f"{spec.name} (database)", list(spec.columns), enumerate(rows, start=2))

    def _residents(self) -> Iterator[list[str]]:
        id_hash, phone_hash, tail_hash = self.hashes
        found = self._select(
            RESIDENT,
            "resident_id",
            "resident_id",
            "household_id",
            "building_id",
            "birth_year",
            "flags",
            "id_hash",
            "phone_hash",
            "phone_tail_hash",
        )
        for r, h, b, year, flags, ih, ph, th in found:
            id_hash.append(ih)
            phone_hash.append(ph)
            tail_hash.append(th)
            yield [r, h, b, _text(year), self.flag_texts[flags], "", ""]


def zone_rows(conn: Connection, scenario_id: int, *, through: int | None = None) -> list[tuple[str, str, str]]:
    """(level, scope, target_id) in force: the ledger's zones with the zone changes applied.

    `through=None`: the changes already applied by a published version; else every change
    recorded up to that zone_change id (what a re-solve works from).
    """
    base = conn.execute(
        sa.select(ZONE.c.level, ZONE.c.scope, ZONE.c.target_id)
        .where(ZONE.c.scenario_id == scenario_id)
        .order_by(ZONE.c.seq)
    ).all()
    changes = sa.select(ZONE_CHANGE.c.level, ZONE_CHANGE.c.scope, ZONE_CHANGE.c.target_id).where(
        ZONE_CHANGE.c.scenario_id == scenario_id
    )
    if through is None:
        changes = changes.where(ZONE_CHANGE.c.applied_version_id.is_not(None))
    else:
        changes = changes.where(ZONE_CHANGE.c.id <= through)
    latest: dict[tuple[str, str], str] = {}
    for level, scope, target in conn.execute(changes.order_by(ZONE_CHANGE.c.id)):
        latest.pop((scope, target), None)  # re-insert: dict order follows the newest change
        latest[(scope, target)] = level
    kept = [(level, scope, target) for level, scope, target in base if (scope, target) not in latest]
    return kept + [(level, scope, target) for (scope, target), level in latest.items() if level != NORMAL]


def load_scenario(engine: Engine, scenario_id: int, *, zone_changes_through: int | None = None) -> domain.Scenario:
    """The stored scenario as the solvers see it, rows in natural-key order, zone changes applied.

    Without `zone_changes_through`, the zones of the published versions (changes they applied);
    with it, every zone change recorded up to that id. Raises `UnknownVersion` for no such scenario.
    A what-if fork is its parent loaded so, with its changes applied (`store.whatif`).
    """
    from store.whatif import load_fork  # imports this module

    forked = load_fork(engine, scenario_id, zone_changes_through=zone_changes_through)
    if forked is not None:
        return forked
    with engine.connect() as conn, conn.begin():
        stored = _StoredLedger(conn, scenario_id, zone_rows(conn, scenario_id, through=zone_changes_through))
        # The stored texts were accepted at import: read them the same way (a strict reading is unchanged).
        scenario = read_source(stored, salt=b"", accept_suggestions=True)
        warnings = conn.execute(sa.select(SCENARIO.c.warnings).where(SCENARIO.c.id == scenario_id)).scalar_one()
    scenario.residents.id_hash, scenario.residents.phone_hash, scenario.residents.phone_tail_hash = stored.hashes
    scenario.warnings = list(warnings)
    return scenario


@dataclass(frozen=True)
class _Ids:
    """The id lists a schedule's row numbers refer to."""

    residents: list[str]
    households: list[str]
    points: list[str]
    workers: list[str]


def _stored_ids(conn: Connection, scenario_id: int) -> _Ids:
    """Ids in `load_scenario`'s row order (households in order of their first resident)."""

    def column(table: sa.Table, *names: str) -> list[Any]:
        query = sa.select(*(table.c[n] for n in names)).where(table.c.scenario_id == scenario_id)
        return list(conn.execute(query.order_by(_by_key(conn, table.c[names[0]]))))

    residents = column(RESIDENT, "resident_id", "household_id")
    return _Ids(
        residents=[r for r, _ in residents],
        households=list(dict.fromkeys(h for _, h in residents)),
        points=[p for (p,) in column(POINT_TABLE, "point_id")],
        workers=[w for (w,) in column(WORKER, "worker_id")],
    )


# --- drafts --------------------------------------------------------------------------------------


class _Times:
    """Seconds since the round opens → local date-times; a district has only a few hundred distinct ones."""

    def __init__(self, start: datetime) -> None:
        self.start = start

    def __call__(self, seconds: np.ndarray) -> list[datetime]:
        distinct, inverse = np.unique(np.asarray(seconds, dtype=np.int64), return_inverse=True)
        moments = np.array([self.start + timedelta(seconds=int(s)) for s in distinct.tolist()], dtype=object)
        result: list[datetime] = moments[inverse.reshape(-1)].tolist()
        return result


def _names(ids: Sequence[str], rows: np.ndarray) -> list[str | None]:
    """The ids at `rows`; NO_REF (-1) becomes None."""
    table = np.array([*ids, None], dtype=object)
    result: list[str | None] = table[rows].tolist()
    return result


def kpis_document(resident_ids: Sequence[str], schedule: Schedule) -> dict[str, Any]:
    """The KPIs as stored and as kpis.json carries them: the schedule's own plus `unserved` (and
    `points_staffed: false` when the roster holds doorstep teams only)."""
    kpis = dict(schedule.kpis)
    if schedule.has_roster and not schedule.points_staffed:
        kpis["points_staffed"] = False
    kpis["unserved"] = [
        {"resident_id": resident_ids[u.resident], "reason": u.reason, "detail": u.detail} for u in schedule.unserved
    ]
    # Through JSON once: numpy numbers become plain ones, and anything unstorable fails here, clearly.
    loaded: dict[str, Any] = json.loads(json.dumps(kpis, default=_plain))
    return loaded


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"kpis: {type(value).__name__} is not JSON")


def _insert_version(conn: Connection, values: dict[str, Any]) -> int | None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(VERSION).values(**values).on_conflict_do_nothing().returning(VERSION.c.id)
    return conn.execute(statement).scalar_one_or_none()


def save_draft(
    engine: Engine,
    scenario_id: int,
    schedule: Schedule,
    *,
    cause: str,
    parent_id: int | None,
    seed: int,
    input_key: str | None = None,
    zone_change_through: int | None = None,
    scenario: domain.Scenario | None = None,
    chunk_rows: int = CHUNK_ROWS,
    cache: LoadCache | None = None,
    previous: Schedule | None = None,
) -> int:
    """Store `schedule` as a draft version with its visits, duties, route stops and KPIs; return its id.

    One transaction: a failure stores nothing. With `input_key` (what the schedule was solved
    from), a second draft of the same scenario and key is not written: the first one's id comes
    back, also when two workers race. `scenario` gives the ids the schedule's rows refer to;
    without it they are read in `load_scenario`'s order. `zone_change_through`: the newest zone
    change the schedule reflects (publishing marks the changes up to it applied). With `cache`
    (and `scenario`), a version this call wrote is kept there as read back (`LoadCache.remember`).
    `previous`: the parent version as read back over the same rows (`load_schedule`, `LoadCache`);
    the visits `schedule` shares with it are then copied inside the database and only the others
    are sent (a re-solve of one community of a district sends that community's). The rows stored
    are the same either way.
    """
    with engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn, conn.begin():
        start = conn.execute(sa.select(SCENARIO.c.start).where(SCENARIO.c.id == scenario_id)).scalar_one_or_none()
        if start is None:
            raise UnknownVersion(f"no scenario {scenario_id}")
        if input_key is not None:
            existing = _version_by_key(conn, scenario_id, input_key)
            if existing is not None:
                return existing
        ids = (
            _Ids(scenario.residents.ids, scenario.households, scenario.points.ids, scenario.workers.ids)
            if scenario is not None
            else _stored_ids(conn, scenario_id)
        )
        if len(schedule.mode) != len(ids.residents) or (
            previous is not None and len(previous.mode) != len(ids.residents)
        ):
            raise ValueError(
                f"schedule has {len(schedule.mode)} residents, scenario {scenario_id} has {len(ids.residents)}"
            )
        version_id = _insert_version(
            conn,
            dict(
                scenario_id=scenario_id,
                parent_id=parent_id,
                status="draft",
                cause=cause,
                seed=seed,
                kpis=kpis_document(ids.residents, schedule),
                created_at=utcnow(),
                input_key=input_key,
                zone_change_through=zone_change_through,
                has_roster=schedule.has_roster,
            ),
        )
        if version_id is None:  # a concurrent draft of the same input committed first (PostgreSQL)
            found = _version_by_key(conn, scenario_id, input_key or "")
            assert found is not None
            return found
        times = _Times(start)
        same = _same_visits(previous, schedule) if previous is not None and parent_id is not None else None
        for table, rows in _schedule_rows(version_id, schedule, ids, times, None if same is None else ~same):
            bulk_insert(conn, table, rows, chunk_rows)
        if parent_id is not None:
            if same is not None and previous is not None:
                dropped = np.flatnonzero(~same & (previous.mode != UNSERVED))  # the parent's visits not kept
                _copy_visits(conn, version_id, parent_id, [ids.residents[r] for r in dropped.tolist()])
                changed = int((~same & ((schedule.mode != UNSERVED) | (previous.mode != UNSERVED))).sum())
            else:
                query = sa.select(sa.func.count()).select_from(_changes(version_id, parent_id).subquery())
                changed = conn.execute(query).scalar_one()
            conn.execute(VERSION.update().where(VERSION.c.id == version_id).values(changed_visits=changed))
    if cache is not None and scenario is not None:
        cache.remember(engine, version_id, scenario, schedule)
    return version_id


def _version_by_key(conn: Connection, scenario_id: int, input_key: str) -> int | None:
    query = sa.select(VERSION.c.id).where(VERSION.c.scenario_id == scenario_id, VERSION.c.input_key == input_key)
    return conn.execute(query).scalar_one_or_none()


def _schedule_rows(
    version_id: int, schedule: Schedule, ids: _Ids, times: _Times, visits: np.ndarray | None = None
) -> Iterator[tuple[sa.Table, Iterable[tuple[Any, ...]]]]:
    """(table, rows) of a schedule; each row's values follow the table's column order.

    `visits` (bool per resident), when given, limits the visit rows to those residents.
    """
    served = np.flatnonzero((schedule.mode != UNSERVED) if visits is None else (schedule.mode != UNSERVED) & visits)
    teams = schedule.teams
    yield (
        VISIT,
        zip(
            [version_id] * len(served),
            _names(ids.residents, served),
            np.array(MODES, dtype=object)[schedule.mode[served]].tolist(),
            _names(ids.points, schedule.point[served]),
            _names(teams, schedule.team[served]),
            times(schedule.start[served]),
            times(schedule.end[served]),
            strict=True,
        ),
    )
    roster = schedule.roster
    at_point = roster.point != domain.NO_REF
    places = np.where(
        at_point,
        np.array([*ids.points, None], dtype=object)[roster.point],
        np.array([*teams, None], dtype=object)[roster.team],
    )
    yield (
        DUTY,
        zip(
            [version_id] * len(roster),
            _names(ids.workers, roster.worker),
            times(roster.start),
            times(roster.end),
            places.tolist(),
            np.array(ROLES, dtype=object)[roster.role].tolist(),
            strict=True,
        ),
    )
    routes = schedule.routes
    yield (
        ROUTE_STOP,
        zip(
            [version_id] * len(routes),
            _names(teams, routes.team),
            routes.seq.tolist(),
            _names(ids.households, routes.household),
            times(routes.arrive),
            times(routes.depart),
            strict=True,
        ),
    )


def _same_visits(old: Schedule, new: Schedule) -> np.ndarray:
    """Per resident: served in both with the same stored row (mode, point, team name, start, end)."""
    same = (old.mode != UNSERVED) & (old.mode == new.mode) & (old.point == new.point)
    same &= (old.start == new.start) & (old.end == new.end)
    old_team = np.array([*old.teams, None], dtype=object)[old.team]
    new_team = np.array([*new.teams, None], dtype=object)[new.team]
    result: np.ndarray = same & (old_team == new_team)
    return result


def _copy_visits(conn: Connection, version_id: int, parent_id: int, skip: list[str]) -> None:
    """Copy the parent version's visits to `version_id` inside the database, but those of the `skip` residents."""
    skipped: sa.Select[Any]
    if conn.dialect.name == "postgresql":
        listed = sa.bindparam("skip", skip, type_=postgresql.ARRAY(sa.Text))
        skipped = sa.select(sa.func.unnest(listed))
    else:
        skipped = sa.select(sa.column("value")).select_from(sa.func.json_each(sa.bindparam("skip", json.dumps(skip))))
    columns = [c.name for c in VISIT.c if c.name != "version_id"]
    copied = sa.select(sa.literal(version_id), *(VISIT.c[c] for c in columns)).where(
        VISIT.c.version_id == parent_id, VISIT.c.resident_id.not_in(skipped)
    )
    conn.execute(VISIT.insert().from_select(["version_id", *columns], copied))


# --- publication ---------------------------------------------------------------------------------


def publish(engine: Engine, version_id: int, *, only_if_newest: bool = False) -> None:
    """Make a draft the newest published version of its scenario, atomically; a published one is left as it is.

    Publications of one scenario are serialised by a lock on its row (SQLite: the write lock), so
    `published_at` strictly increases and readers see one newest version. With `only_if_newest`
    the version is published only while its parent is still the newest published version
    (`StalePublication` otherwise). Zone changes the version reflects are marked applied by it.
    """
    with engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn, conn.begin():
        scenario_id = conn.execute(sa.select(VERSION.c.scenario_id).where(VERSION.c.id == version_id)).scalar()
        if scenario_id is None:
            raise UnknownVersion(f"no schedule version {version_id}")
        conn.execute(sa.select(SCENARIO.c.id).where(SCENARIO.c.id == scenario_id).with_for_update())
        row = conn.execute(sa.select(VERSION).where(VERSION.c.id == version_id)).mappings().one()
        if row["status"] == "published":
            return
        newest = conn.execute(_newest(scenario_id)).one_or_none()
        if only_if_newest and (newest[0] if newest else None) != row["parent_id"]:
            raise StalePublication(
                f"version {version_id} was solved from version {row['parent_id']}, "
                f"but version {newest[0] if newest else None} is the newest published"
            )
        now = utcnow()
        if newest is not None and newest[1] is not None:
            # Stored instants may come back naive (SQLite): compare in UTC.
            last = newest[1] if newest[1].tzinfo else newest[1].replace(tzinfo=now.tzinfo)
            now = max(now, last + timedelta(microseconds=1))
        conn.execute(VERSION.update().where(VERSION.c.id == version_id).values(status="published", published_at=now))
        if row["zone_change_through"] is not None:
            conn.execute(
                ZONE_CHANGE.update()
                .where(
                    ZONE_CHANGE.c.scenario_id == scenario_id,
                    ZONE_CHANGE.c.id <= row["zone_change_through"],
                    ZONE_CHANGE.c.applied_version_id.is_(None),
                )
                .values(applied_version_id=version_id)
            )


def _newest(scenario_id: int) -> sa.Select[Any]:
    return (
        sa.select(VERSION.c.id, VERSION.c.published_at)
        .where(VERSION.c.scenario_id == scenario_id, VERSION.c.status == "published")
        .order_by(VERSION.c.published_at.desc(), VERSION.c.id.desc())
        .limit(1)
    )


def newest_published(engine: Engine, scenario_id: int) -> int | None:
    """The id of the scenario's newest published version, or None before the first publication."""
    with engine.connect() as conn:
        return conn.execute(_newest(scenario_id)).scalar()


# --- reading a version back ----------------------------------------------------------------------


def load_schedule(engine: Engine, version_id: int, scenario: domain.Scenario) -> Schedule:
    """A stored version as a `Schedule` over `scenario`'s rows (e.g. to re-solve from a published one)."""
    with engine.connect() as conn, conn.begin():
        row = conn.execute(sa.select(VERSION).where(VERSION.c.id == version_id)).mappings().one_or_none()
        if row is None:
            raise UnknownVersion(f"no schedule version {version_id}")
        visits = conn.execute(
            sa.select(
                VISIT.c.resident_id, VISIT.c.mode, VISIT.c.point_id, VISIT.c.team_id, VISIT.c.start, VISIT.c.end
            ).where(VISIT.c.version_id == version_id)
        ).all()
        duties = conn.execute(
            sa.select(DUTY.c.worker_id, DUTY.c.place, DUTY.c.role, DUTY.c.start, DUTY.c.end)
            .where(DUTY.c.version_id == version_id)
            .order_by(_by_key(conn, DUTY.c.worker_id), DUTY.c.start)
        ).all()
        stops = conn.execute(
            sa.select(
                ROUTE_STOP.c.team_id,
                ROUTE_STOP.c.seq,
                ROUTE_STOP.c.household_id,
                ROUTE_STOP.c.arrive,
                ROUTE_STOP.c.depart,
            )
            .where(ROUTE_STOP.c.version_id == version_id)
            .order_by(_by_key(conn, ROUTE_STOP.c.team_id), ROUTE_STOP.c.seq)
        ).all()
    return _schedule_of(scenario, dict(row["kpis"]), bool(row["has_roster"]), visits, duties, stops)


def stored_form(scenario: domain.Scenario, schedule: Schedule) -> Schedule:
    """`schedule` as `load_schedule` reads it back once `save_draft` stored it (team, duty, stop order; KPIs).

    Built from the very rows `save_draft` writes, so a process that stored a version can keep it
    instead of reading it again (`LoadCache`).
    """
    ids = _Ids(scenario.residents.ids, scenario.households, scenario.points.ids, scenario.workers.ids)
    tables = dict(_schedule_rows(0, schedule, ids, _Times(scenario.settings.start)))
    visits = [row[1:] for row in tables[VISIT]]
    duties = sorted(row[1:] for row in tables[DUTY])  # worker, start, end, place, role
    stops = sorted(row[1:] for row in tables[ROUTE_STOP])  # team, seq, household, arrive, depart
    return _schedule_of(
        scenario,
        kpis_document(ids.residents, schedule),
        schedule.has_roster,
        visits,
        [(w, place, role, a, b) for w, a, b, place, role in duties],
        stops,
    )


def _schedule_of(
    scenario: domain.Scenario,
    kpis: dict[str, Any],
    has_roster: bool,
    visits: Sequence[Sequence[Any]],
    duties: Sequence[Sequence[Any]],
    stops: Sequence[Sequence[Any]],
) -> Schedule:
    """A `Schedule` over `scenario`'s rows from stored rows: visits (resident, mode, point, team, start,
    end), duties by worker id and start (worker, place, role, start, end), stops by team id and seq."""
    start = scenario.settings.start
    seconds: dict[datetime, int] = {}

    def second(moment: datetime) -> int:
        found = seconds.get(moment)
        if found is None:
            found = seconds[moment] = int((moment - start).total_seconds())
        return found

    point_row = {p: i for i, p in enumerate(scenario.points.ids)}
    team_names = sorted(
        {t for *_, t, _, _ in visits if t is not None}
        | {place for _, place, *_ in duties if place not in point_row}
        | {t for t, *_ in stops}
    )
    team_row = {t: i for i, t in enumerate(team_names)}
    schedule = Schedule.blank(len(scenario.residents))
    schedule.teams = team_names
    if visits:
        resident_row = {r: i for i, r in enumerate(scenario.residents.ids)}
        rows = np.fromiter((resident_row[v[0]] for v in visits), dtype=np.int64, count=len(visits))
        schedule.mode[rows] = [POINT if v[1] == "point" else DOORSTEP for v in visits]
        schedule.point[rows] = [domain.NO_REF if v[2] is None else point_row[v[2]] for v in visits]
        schedule.team[rows] = [domain.NO_REF if v[3] is None else team_row[v[3]] for v in visits]
        schedule.start[rows] = [second(v[4]) for v in visits]
        schedule.end[rows] = [second(v[5]) for v in visits]
    worker_row = {w: i for i, w in enumerate(scenario.workers.ids)}
    schedule.roster = Roster(
        *typed_columns(
            [
                (
                    worker_row[w],
                    point_row.get(place, domain.NO_REF),
                    domain.NO_REF if place in point_row else team_row[place],
                    ROLES.index(role),
                    second(a),
                    second(b),
                )
                for w, place, role, a, b in duties
            ],
            ROSTER_DTYPES,
        )
    )
    household_row = {h: i for i, h in enumerate(scenario.households)}
    schedule.routes = Routes(
        *typed_columns(
            [(team_row[t], seq, household_row[h], second(a), second(b)) for t, seq, h, a, b in stops], ROUTE_DTYPES
        )
    )
    resident_ids = scenario.residents.ids
    unserved = kpis.pop("unserved", [])
    if unserved:
        resident_row = {r: i for i, r in enumerate(resident_ids)}
        schedule.unserved = [Unserved(resident_row[u["resident_id"]], u["reason"], u["detail"]) for u in unserved]
    schedule.kpis = kpis
    schedule.has_roster = has_roster
    schedule.points_staffed = kpis.get("points_staffed", True) is not False
    return schedule


@dataclass
class _Ledger:
    """An imported scenario as loaded, and its targets' rows by id (to put other zones in)."""

    scenario: domain.Scenario
    targets: dict[str, dict[str, int]]

    @classmethod
    def of(cls, scenario: domain.Scenario) -> _Ledger:
        named = {
            "community": scenario.communities,
            "compound": scenario.compounds,
            "building": scenario.buildings.ids,
        }
        return cls(scenario, {scope: {t: i for i, t in enumerate(ids)} for scope, ids in named.items()})

    def with_zones(self, rows: list[tuple[str, str, str]]) -> domain.Scenario:
        zones = domain.Zones(
            level=np.array([domain.LEVELS.index(level) for level, _, _ in rows], dtype=np.int8),
            scope=np.array([domain.SCOPES.index(scope) for _, scope, _ in rows], dtype=np.int8),
            target=np.array([self.targets[scope][target] for _, scope, target in rows], dtype=np.int32),
        )
        return replace(self.scenario, zones=zones)


class LoadCache:
    """What a long-lived process (a worker) keeps between solves: scenarios by ledger, versions by id.

    An imported ledger never changes, so its scenario is kept under the database, its id, ledger
    digest and import time; a later load reads only the zones in force (`zone_rows`, a newer zone
    change) and puts them in. A what-if fork is read whole every time (its changes may still
    grow). A version never changes: one this process stored is kept as read back (`stored_form`,
    via `save_draft(..., cache=)`) and served to a scenario of the same ledger. The `size` most
    recently used of each are kept (a district's scenario holds some hundreds of MB: one by
    default). The scenarios and schedules handed out are shared: read only. Threads of one
    process may share a cache.
    """

    def __init__(self, size: int = 1) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._ledgers: OrderedDict[tuple[Any, ...], _Ledger] = OrderedDict()
        self._versions: OrderedDict[tuple[str, int], tuple[domain.Scenario, Schedule]] = OrderedDict()

    def _keep(self, kept: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        with self._lock:
            kept[key] = value
            kept.move_to_end(key)
            while len(kept) > self.size:
                kept.popitem(last=False)

    def _get(self, kept: OrderedDict[Any, Any], key: Any) -> Any:
        with self._lock:
            value = kept.get(key)
            if value is not None:
                kept.move_to_end(key)
            return value

    def load_scenario(
        self, engine: Engine, scenario_id: int, *, zone_changes_through: int | None = None
    ) -> domain.Scenario:
        """`load_scenario(engine, scenario_id, zone_changes_through=...)`, reading only the zones when kept."""
        from store.whatif import fork_of  # imports this module

        with engine.connect() as conn, conn.begin():
            row = conn.execute(
                sa.select(SCENARIO.c.ledger_digest, SCENARIO.c.created_at).where(SCENARIO.c.id == scenario_id)
            ).one_or_none()
            forked = row is not None and fork_of(conn, scenario_id) is not None
            zones = zone_rows(conn, scenario_id, through=zone_changes_through)
        if row is None or forked:
            return load_scenario(engine, scenario_id, zone_changes_through=zone_changes_through)
        key = (engine.url.render_as_string(), scenario_id, row.ledger_digest, row.created_at)
        ledger: _Ledger | None = self._get(self._ledgers, key)
        if ledger is None:
            scenario = load_scenario(engine, scenario_id, zone_changes_through=zone_changes_through)
            self._keep(self._ledgers, key, _Ledger.of(scenario))
            return scenario
        return ledger.with_zones(zones)

    def load_schedule(self, engine: Engine, version_id: int, scenario: domain.Scenario) -> Schedule:
        """`load_schedule(engine, version_id, scenario)`, without reading it when this process stored it."""
        kept = self._get(self._versions, (engine.url.render_as_string(), version_id))
        if kept is not None and _same_rows(kept[0], scenario):
            return kept[1]
        return load_schedule(engine, version_id, scenario)

    def remember(self, engine: Engine, version_id: int, scenario: domain.Scenario, schedule: Schedule) -> None:
        """Keep version `version_id`, just stored from `schedule` over `scenario`, as `load_schedule` reads it."""
        self._keep(
            self._versions, (engine.url.render_as_string(), version_id), (scenario, stored_form(scenario, schedule))
        )


def _same_rows(a: domain.Scenario, b: domain.Scenario) -> bool:
    """Both scenarios share their rows (one kept ledger): a schedule over one is one over the other."""
    return all(
        getattr(a, name) is getattr(b, name) for name in ("residents", "households", "points", "workers", "buildings")
    )


def _changes(version_id: int, parent_id: int) -> sa.CompoundSelect[Any]:
    """Residents whose visit differs between the two versions (served in either): new and old columns."""
    new, old = VISIT.alias("new"), VISIT.alias("old")
    columns = ("mode", "point_id", "team_id", "start", "end")
    differs = sa.or_(*(new.c[c].is_distinct_from(old.c[c]) for c in columns))
    empty = [sa.null().label(f"{side}_{c}") for side in ("new",) for c in columns]
    changed_or_added = (
        sa.select(
            new.c.resident_id,
            *(old.c[c].label(f"old_{c}") for c in columns),
            *(new.c[c].label(f"new_{c}") for c in columns),
        )
        .select_from(new.outerjoin(old, sa.and_(old.c.version_id == parent_id, old.c.resident_id == new.c.resident_id)))
        .where(new.c.version_id == version_id, sa.or_(old.c.resident_id.is_(None), differs))
    )
    dropped = sa.select(old.c.resident_id, *(old.c[c].label(f"old_{c}") for c in columns), *empty).where(
        old.c.version_id == parent_id,
        ~sa.exists().where(new.c.version_id == version_id, new.c.resident_id == old.c.resident_id),
    )
    return sa.union_all(changed_or_added, dropped)


def visit_diff(engine: Engine, version_id: int, *, limit: int | None = None) -> list[VisitChange]:
    """Residents whose visit changed against the parent version, by resident id (empty without a parent)."""
    with engine.connect() as conn:
        parent_id = conn.execute(sa.select(VERSION.c.parent_id).where(VERSION.c.id == version_id)).one_or_none()
        if parent_id is None:
            raise UnknownVersion(f"no schedule version {version_id}")
        if parent_id[0] is None:
            return []
        changes = _changes(version_id, parent_id[0]).subquery()
        query = sa.select(changes).order_by(_by_key(conn, changes.c.resident_id)).limit(limit)
        rows = conn.execute(query).all()

    def visit(values: Sequence[Any]) -> VisitRow | None:
        return None if values[0] is None else VisitRow(*values)

    return [VisitChange(row[0], visit(row[1:6]), visit(row[6:11])) for row in rows]
