"""Bulk import of a read ledger (`scheduler.domain.Scenario`) into the database.

One transaction per import: any failure imports nothing. The big tables are written from the
numpy arrays without ORM objects: `executemany` on the raw sqlite3 connection in chunks, or
`COPY ... FROM STDIN` on the raw psycopg 3 connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from scheduler import domain
from store.models import ScenarioPublic, ScenarioSummary, utcnow

CHUNK_ROWS = 50_000

_tables = SQLModel.metadata.tables
SCENARIO = _tables["scenario"]
BUILDING = _tables["building"]
RESIDENT = _tables["resident"]
POINT = _tables["point"]
WORKER = _tables["worker"]
ZONE = _tables["zone"]

# Columns of the settings, same names in RoundSettings and in the `scenario` table.
_SETTINGS = (
    "name",
    "start",
    "days",
    "slot_minutes",
    "desk_rate_per_hour",
    "doorstep_minutes_per_household",
    "walk_speed_m_per_min",
    "max_walk_m",
    "max_shift_hours",
    "min_break_minutes",
    "max_day_hours",
    "order_keepers_per_desk",
)


class LedgerImportError(RuntimeError):
    """The database refused part of a ledger; nothing of it was imported."""


def import_scenario(
    engine: Engine, scenario: domain.Scenario, ledger_digest: str, *, chunk_rows: int = CHUNK_ROWS
) -> tuple[int, bool]:
    """Store `scenario` under `ledger_digest`; return (scenario id, created?).

    A ledger whose digest is already stored is not imported again: its id comes back with
    `created=False` and nothing is written, also when two imports of it race.
    """
    with engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn, conn.begin():
        existing = _scenario_id(conn, ledger_digest)
        if existing is not None:
            return existing, False
        scenario_id = _insert_scenario(conn, scenario, ledger_digest)
        if scenario_id is None:
            # A concurrent import of the same ledger committed first (PostgreSQL; SQLite's
            # immediate transaction cannot race). Nothing was written; read committed sees its row.
            found = _scenario_id(conn, ledger_digest)
            assert found is not None
            return found, False
        for table, rows in _ledger_rows(scenario, scenario_id):
            try:
                bulk_insert(conn, table, rows, chunk_rows)
            except Exception as exc:
                raise LedgerImportError(f"import into {table.name} failed: {exc}") from exc
    analyse(engine, [BUILDING, RESIDENT, POINT, WORKER, ZONE])
    return scenario_id, True


def analyse(engine: Engine, tables: list[sa.Table]) -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL), rather than whenever autovacuum comes:
    until then the planner would take a table of a million residents for an empty one."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE " + ", ".join(table.name for table in tables))


def _scenario_id(conn: Connection, ledger_digest: str) -> int | None:
    found = conn.execute(sa.select(SCENARIO.c.id).where(SCENARIO.c.ledger_digest == ledger_digest))
    return found.scalar_one_or_none()


def _insert_scenario(conn: Connection, scenario: domain.Scenario, ledger_digest: str) -> int | None:
    values: dict[str, Any] = {key: getattr(scenario.settings, key) for key in _SETTINGS}
    values.update(ledger_digest=ledger_digest, warnings=list(scenario.warnings), created_at=utcnow())
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(SCENARIO)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["ledger_digest"])
        .returning(SCENARIO.c.id)
    )
    return conn.execute(statement).scalar_one_or_none()


def _lookup(names: Sequence[str], rows: np.ndarray, optional: bool = False) -> list[Any]:
    """The names at `rows`; with `optional`, NO_REF (-1) becomes None."""
    table = np.array([*names, None] if optional else names, dtype=object)
    result: list[Any] = table[rows].tolist()
    return result


def _nonzero_or_none(values: np.ndarray) -> list[int | None]:
    return [v or None for v in values.tolist()]


def _rows(scenario_id: int, *columns: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows of equally long columns, each prefixed with the scenario id."""
    return zip([scenario_id] * len(columns[0]), *columns, strict=True)


def _ledger_rows(s: domain.Scenario, scenario_id: int) -> Iterator[tuple[sa.Table, Iterable[tuple[Any, ...]]]]:
    """(table, rows) in foreign-key order; each row's values follow the table's column order."""
    b = s.buildings
    yield (
        BUILDING,
        _rows(
            scenario_id,
            b.ids,
            _lookup(s.communities, b.community),
            _lookup(s.compounds, b.compound),
            b.lat.tolist(),
            b.lon.tolist(),
            _nonzero_or_none(b.floors),
        ),
    )
    r = s.residents
    yield (
        RESIDENT,
        _rows(
            scenario_id,
            r.ids,
            _lookup(s.households, r.household),
            _lookup(b.ids, r.building),
            _nonzero_or_none(r.birth_year),
            r.flags.tolist(),
            r.id_hash,
            r.phone_hash,
            r.phone_tail_hash,
        ),
    )
    p = s.points
    yield (
        POINT,
        _rows(
            scenario_id,
            p.ids,
            p.names,
            _lookup(s.communities, p.community, optional=True),
            _lookup(s.compounds, p.compound, optional=True),
            p.lat.tolist(),
            p.lon.tolist(),
            p.desks.tolist(),
            [h.text for h in p.hours],
            p.accessible.astype(bool).tolist(),
        ),
    )
    w = s.workers
    yield (
        WORKER,
        _rows(
            scenario_id,
            w.ids,
            w.names,
            _lookup(domain.KINDS, w.kind),
            w.skills.tolist(),
            _lookup(s.communities, w.community, optional=True),
            [a.text for a in w.available],
        ),
    )
    z = s.zones
    targets = {
        domain.SCOPES.index("community"): s.communities,
        domain.SCOPES.index("compound"): s.compounds,
        domain.SCOPES.index("building"): b.ids,
    }
    yield (
        ZONE,
        [
            (scenario_id, seq, domain.LEVELS[level], domain.SCOPES[scope], targets[scope][target])
            for seq, (level, scope, target) in enumerate(
                zip(z.level.tolist(), z.scope.tolist(), z.target.tolist(), strict=True)
            )
        ],
    )


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def bulk_insert(conn: Connection, table: sa.Table, rows: Iterable[tuple[Any, ...]], chunk_rows: int) -> None:
    """Write `rows` (tuples in the table's column order) on the raw DBAPI connection."""
    columns = [c.name for c in table.columns]
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        quoted = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for chunk in _chunks(rows, chunk_rows):
                for row in chunk:
                    copy.write_row(row)
    else:
        quoted = ", ".join(f'"{c}"' for c in columns)
        statement = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(columns))})'
        cursor = raw.cursor()
        try:
            for chunk in _chunks(rows, chunk_rows):
                cursor.executemany(statement, chunk)
        finally:
            cursor.close()


# --- read back for the CLI ---------------------------------------------------------------------


def list_scenarios(engine: Engine) -> list[ScenarioPublic]:
    """All stored scenarios, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(SCENARIO).order_by(SCENARIO.c.id)).mappings().all()
    return [ScenarioPublic.model_validate(dict(row)) for row in rows]


def scenario_summary(engine: Engine, scenario_id: int) -> ScenarioSummary | None:
    """A stored scenario with the counts of `domain.Scenario.summary()` that need no zone logic."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(SCENARIO).where(SCENARIO.c.id == scenario_id)).mappings().one_or_none()
        if row is None:
            return None
        counts: dict[str, int] = {}

        def count(table: sa.Table, **columns: Any) -> None:
            query = sa.select(*(c.label(name) for name, c in columns.items())).where(table.c.scenario_id == scenario_id)
            for name, value in conn.execute(query).one()._mapping.items():
                counts[name] = int(value or 0)

        def with_bit(column: sa.ColumnElement[Any], bit: int) -> sa.ColumnElement[Any]:
            return sa.func.count().filter(column.op("&")(bit) != 0)

        count(
            BUILDING,
            communities=sa.func.count(sa.distinct(BUILDING.c.community_id)),
            compounds=sa.func.count(sa.distinct(BUILDING.c.compound_id)),
            buildings=sa.func.count(),
        )
        count(
            RESIDENT,
            households=sa.func.count(sa.distinct(RESIDENT.c.household_id)),
            residents=sa.func.count(),
            **{f"residents_{n}": with_bit(RESIDENT.c.flags, bit) for n, bit in domain.FLAG_BIT.items()},
        )
        count(POINT, points=sa.func.count(), desks=sa.func.sum(POINT.c.desks))
        count(
            WORKER,
            workers=sa.func.count(),
            **{f"workers_{n}": with_bit(WORKER.c.skills, bit) for n, bit in domain.SKILL_BIT.items()},
        )
        count(ZONE, zones=sa.func.count())
    return ScenarioSummary.model_validate({**row, "counts": counts})
