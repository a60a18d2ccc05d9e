"""Engines for SQLite (embedded default) and PostgreSQL (psycopg 3), and the Alembic upgrade."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.pool import NullPool

# Any constant works; it only has to be the same in every process that upgrades one database.
_MIGRATION_LOCK_KEY = 0x5C4ED


def normalise_url(url: str | URL) -> URL:
    """`postgres://` and `postgresql://` (any driver but psycopg 3) become `postgresql+psycopg://`."""
    parsed = make_url(url)
    backend = parsed.drivername.split("+", 1)[0]
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for `url`: SQLite in WAL mode with foreign keys on, or PostgreSQL via psycopg 3.

    A SQLite file's folder is created. SQLite transactions are made explicit (the driver's own
    implicit BEGIN is switched off), so a transaction covers reads and writes alike and SAVEPOINT
    works; a connection with the execution option `sqlite_begin="BEGIN IMMEDIATE"` takes the
    write lock when its transaction begins.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN: SQLAlchemy emits it below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))


def alembic_config() -> Config:
    """The Alembic configuration of this package (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", "store:migrations")
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest); a no-op when it is already there.

    Safe to call at every start, also from several processes at once: PostgreSQL serialises the
    upgrades with an advisory lock, SQLite with an immediate (write-locking) transaction.
    """
    config = alembic_config()
    with engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def scratch_database(admin_url: str | URL, prefix: str) -> Iterator[Engine]:
    """A fresh, upgraded PostgreSQL database on the server of `admin_url`, dropped afterwards."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(normalise_url(admin_url).set(database=name))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
