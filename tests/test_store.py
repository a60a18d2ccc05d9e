"""The database: migrations, the bulk ledger import, idempotence, atomicity and privacy."""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import SQLModel

import store.ledger_import as ledger_import
from scheduler import domain
from scheduler.ledger import ledger_digest, read_scenario
from scheduler.ledger.columns import canonical_header
from scheduler.ledger.sources import csv_encoding
from store.engine import alembic_config, make_engine, normalise_url, upgrade
from store.ledger_import import LedgerImportError, import_scenario, list_scenarios, scenario_summary
from store.settings import DEVELOPMENT_SALT, Settings
from tests.ledgers import EXAMPLES, write_ledger

DEMO = EXAMPLES / "demo-community"
LEDGER_TABLES = ("building", "resident", "point", "worker", "zone")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ledger(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module", params=["tiny", "demo-community"])
def ledger(request: pytest.FixtureRequest, salt: bytes) -> tuple[Path, domain.Scenario]:
    """A ledger folder and the Scenario read from it."""
    folder = request.getfixturevalue("tiny_dir") if request.param == "tiny" else DEMO
    return folder, read_scenario(folder, salt=salt)


@pytest.fixture(scope="module")
def demo(salt: bytes) -> domain.Scenario:
    return read_scenario(DEMO, salt=salt)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in SQLModel.metadata.sorted_tables
        }


def _rows(engine: Engine, table: str, scenario_id: int) -> dict[str, dict[str, Any]]:
    """Rows of a ledger table keyed by their id (zones by seq)."""
    t = SQLModel.metadata.tables[table]
    key = next(c for c in t.primary_key.columns if c.name != "scenario_id").name
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.scenario_id == scenario_id)).mappings().all()
    return {str(row[key]): dict(row) for row in rows}


def _sample(n: int) -> list[int]:
    return sorted({0, n // 3, n // 2, n - 1}) if n else []


def _clear_values(folder: Path) -> list[str]:
    """The id numbers and phones in a ledger's residents.csv, as written and as bare digits."""
    path = folder / "residents.csv"
    with path.open(encoding=csv_encoding(path), newline="") as f:
        rows = csv.reader(f)
        header = [canonical_header(h) for h in next(rows)]
        wanted = [i for i, h in enumerate(header) if h in ("id_number", "phone")]
        values = {row[i].strip() for row in rows for i in wanted if i < len(row) and row[i].strip()}
    bare = {re.sub(r"[^0-9Xx]", "", v) for v in values}
    bare |= {v[2:] for v in bare if len(v) == 13 and v.startswith("86")}
    return sorted(v for v in values | bare if len(v) >= 7)


def _everything(engine: Engine) -> Iterator[str]:
    """Every value in every table of the database, as text."""
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                yield from (str(v) for v in row)


def test_migration_matches_models(db_engine: Engine) -> None:
    """The migrated schema is the models' (autogenerate finds no difference); a repeated upgrade is a no-op."""
    upgrade(db_engine)
    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
        assert context.get_current_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_import_round_trip(db_engine: Engine, ledger: tuple[Path, domain.Scenario], salt: bytes) -> None:
    """Row counts, settings and sampled values in the database equal the Scenario's."""
    folder, scenario = ledger
    scenario_id, created = import_scenario(db_engine, scenario, ledger_digest(folder, salt=salt), chunk_rows=1000)
    assert created
    counts = _counts(db_engine)
    assert {t: counts[t] for t in LEDGER_TABLES} == {
        "building": len(scenario.buildings),
        "resident": len(scenario.residents),
        "point": len(scenario.points),
        "worker": len(scenario.workers),
        "zone": len(scenario.zones),
    }
    assert counts["scenario"] == 1

    [stored] = list_scenarios(db_engine)
    assert stored.id == scenario_id
    assert stored.ledger_digest == ledger_digest(folder, salt=salt)
    for field in dataclasses.fields(domain.RoundSettings):
        assert getattr(stored, field.name) == getattr(scenario.settings, field.name), field.name

    summary = scenario_summary(db_engine, scenario_id)
    assert summary is not None
    expected = scenario.summary()
    assert summary.counts == {k: v for k, v in expected.items() if k in summary.counts}
    assert summary.counts["residents"] == expected["residents"] and "households" in summary.counts
    assert scenario_summary(db_engine, scenario_id + 1000) is None

    b, r, p, w, z = (scenario.buildings, scenario.residents, scenario.points, scenario.workers, scenario.zones)
    buildings = _rows(db_engine, "building", scenario_id)
    for i in _sample(len(b)):
        row = buildings[b.ids[i]]
        assert row["community_id"] == scenario.communities[b.community[i]]
        assert row["compound_id"] == scenario.compounds[b.compound[i]]
        assert (row["lat"], row["lon"]) == (b.lat[i], b.lon[i])
        assert row["floors"] == (int(b.floors[i]) or None)
    residents = _rows(db_engine, "resident", scenario_id)
    for i in _sample(len(r)):
        row = residents[r.ids[i]]
        assert row["household_id"] == scenario.households[r.household[i]]
        assert row["building_id"] == b.ids[r.building[i]]
        assert row["birth_year"] == (int(r.birth_year[i]) or None)
        assert row["flags"] == r.flags[i]
        assert (row["id_hash"], row["phone_hash"], row["phone_tail_hash"]) == (
            r.id_hash[i],
            r.phone_hash[i],
            r.phone_tail_hash[i],
        )
    points = _rows(db_engine, "point", scenario_id)
    for i in range(len(p)):
        row = points[p.ids[i]]
        assert row["hours"] == p.hours[i].text
        assert row["name"] == p.names[i]
        assert row["desks"] == p.desks[i] and row["accessible"] == bool(p.accessible[i])
        community = scenario.communities[p.community[i]] if p.community[i] != domain.NO_REF else None
        assert row["community_id"] == community
    workers = _rows(db_engine, "worker", scenario_id)
    for i in _sample(len(w)):
        row = workers[w.ids[i]]
        assert (row["kind"], row["skills"], row["available"]) == (
            domain.KINDS[w.kind[i]],
            w.skills[i],
            w.available[i].text,
        )
    zones = _rows(db_engine, "zone", scenario_id)
    for i in range(len(z)):
        assert (zones[str(i)]["level"], zones[str(i)]["scope"]) == (
            domain.LEVELS[z.level[i]],
            domain.SCOPES[z.scope[i]],
        )


def test_reimport_is_idempotent(db_engine: Engine, demo: domain.Scenario, salt: bytes) -> None:
    """Importing the same ledger twice returns the first id and writes nothing the second time."""
    digest = ledger_digest(DEMO, salt=salt)
    first_id, created = import_scenario(db_engine, demo, digest)
    before = _counts(db_engine)
    [first] = list_scenarios(db_engine)
    second_id, created_again = import_scenario(db_engine, demo, digest)
    assert (created, created_again) == (True, False)
    assert second_id == first_id
    assert _counts(db_engine) == before
    assert list_scenarios(db_engine) == [first]
    # Another ledger (another digest) is another scenario.
    third_id, created_third = import_scenario(db_engine, demo, digest + "-other")
    assert created_third and third_id != first_id
    assert _counts(db_engine)["resident"] == 2 * before["resident"]


def test_import_leaves_planner_statistics(db_engine: Engine, demo: domain.Scenario, salt: bytes) -> None:
    """On PostgreSQL an import ends with the ledger tables analysed: the planner knows their sizes at once."""
    if db_engine.dialect.name != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    import_scenario(db_engine, demo, ledger_digest(DEMO, salt=salt))
    with db_engine.connect() as conn:
        estimated = conn.execute(
            sa.text("SELECT reltuples FROM pg_class WHERE relname = 'resident' AND relkind = 'r'")
        ).scalar_one()
    assert estimated == len(demo.residents.ids)


def test_import_that_loses_a_race_writes_nothing(
    db_engine: Engine, demo: domain.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the digest is stored between the look-up and the insert, the stored id comes back and nothing is added."""
    first_id, _ = import_scenario(db_engine, demo, "raced")
    before = _counts(db_engine)
    real = ledger_import._scenario_id
    calls: list[str] = []

    def missed_once(conn: Any, digest: str) -> int | None:
        calls.append(digest)
        return None if len(calls) == 1 else real(conn, digest)

    monkeypatch.setattr(ledger_import, "_scenario_id", missed_once)
    assert import_scenario(db_engine, demo, "raced") == (first_id, False)
    assert len(calls) == 2
    assert _counts(db_engine) == before


def test_duplicate_key_in_a_later_chunk_imports_nothing(db_engine: Engine, demo: domain.Scenario) -> None:
    """A database error in the last chunk of residents rolls back everything, scenario row included."""
    ids = list(demo.residents.ids)
    ids[-1] = ids[0]
    broken = dataclasses.replace(demo, residents=dataclasses.replace(demo.residents, ids=ids))
    chunk = max(1, len(ids) // 4)
    with pytest.raises(LedgerImportError, match="resident"):
        import_scenario(db_engine, broken, "broken", chunk_rows=chunk)
    assert set(_counts(db_engine).values()) == {0}
    # The same digest can then be imported for real.
    assert import_scenario(db_engine, demo, "broken")[1]


def _explode_after_first(rows: Any) -> Iterator[tuple[Any, ...]]:
    yield from list(rows)[:1]
    raise RuntimeError("injected")


def test_exception_in_a_later_table_imports_nothing(
    db_engine: Engine, demo: domain.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception raised while writing workers (after residents were written) leaves no row at all."""
    real = ledger_import._ledger_rows

    def failing(s: domain.Scenario, scenario_id: int) -> Iterator[tuple[sa.Table, Any]]:
        for table, rows in real(s, scenario_id):
            if table.name == "worker":
                yield table, _explode_after_first(rows)
            else:
                yield table, rows

    monkeypatch.setattr(ledger_import, "_ledger_rows", failing)
    with pytest.raises(LedgerImportError, match="injected"):
        import_scenario(db_engine, demo, "injected")
    assert set(_counts(db_engine).values()) == {0}


def test_no_clear_id_number_or_phone_is_stored(
    db_engine: Engine, ledger: tuple[Path, domain.Scenario], salt: bytes
) -> None:
    """No id number or phone of the ledger appears anywhere in the database, only their hashes."""
    folder, scenario = ledger
    clear = _clear_values(folder)
    assert clear, "the ledger has id numbers or phones to look for"
    import_scenario(db_engine, scenario, ledger_digest(folder, salt=salt))
    stored = "\n".join(_everything(db_engine))
    assert not [v for v in clear if v in stored]
    assert any(h and h in stored for h in scenario.residents.id_hash)
    if db_engine.dialect.name == "sqlite":  # also the raw file bytes, free pages and WAL included
        with db_engine.connect() as conn:
            path = Path(conn.exec_driver_sql("PRAGMA database_list").all()[0][2])
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert not [v for v in clear if v.encode() in raw]


def test_deleting_a_scenario_cascades(db_engine: Engine, ledger: tuple[Path, domain.Scenario], salt: bytes) -> None:
    """Deleting a scenario row deletes its buildings, residents, points, workers and zones."""
    folder, scenario = ledger
    scenario_id, _ = import_scenario(db_engine, scenario, ledger_digest(folder, salt=salt))
    with db_engine.begin() as conn:
        conn.execute(sa.delete(SQLModel.metadata.tables["scenario"]).where(sa.column("id") == scenario_id))
    assert set(_counts(db_engine).values()) == {0}


def test_postgres_urls_use_psycopg3(tmp_path: Path) -> None:
    """postgres:// and postgresql:// URLs are rewritten to psycopg 3; SQLite gets WAL, foreign keys and its folder."""
    for url in ("postgres://u@h:5432/d", "postgresql://u@h/d", "postgresql+psycopg2://u@h/d"):
        assert normalise_url(url).drivername == "postgresql+psycopg"
    engine = make_engine(f"sqlite:///{tmp_path}/new/folder/x.db")
    with engine.connect() as conn:
        pragmas = [
            conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "foreign_keys", "synchronous")
        ]
    engine.dispose()
    assert pragmas == ["wal", 1, 1]  # synchronous 1 = NORMAL


def test_settings_require_a_salt_outside_development(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Development falls back to a fixed salt; any other environment refuses to start without HASH_SALT."""
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("HASH_SALT", "ENVIRONMENT", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.salt == DEVELOPMENT_SALT.encode()
    assert settings.database_url == "sqlite:///var/sched.db" and settings.redis_url is None
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="HASH_SALT"):
        Settings()
    monkeypatch.setenv("HASH_SALT", "s3cret")
    assert Settings().salt == b"s3cret"
