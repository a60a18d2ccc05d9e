"""Database fixtures: every test that takes `db_engine` runs on SQLite and on PostgreSQL.

PostgreSQL comes from TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres):
a fresh database is created for the session, upgraded to the newest migration and dropped at
the end. Without TEST_POSTGRES_URL the PostgreSQL runs are skipped locally and fail in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers the tables)
from store.engine import make_engine, scratch_database, upgrade


@pytest.fixture(scope="session")
def salt() -> bytes:
    """The hash key of the test session (fixed, so hashes can be recomputed in assertions)."""
    return b"test-session-salt"


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("db") / "sched.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("TEST_POSTGRES_URL is not set: CI must test PostgreSQL too")
        pytest.skip("TEST_POSTGRES_URL is not set")
    with scratch_database(url, "test_sched") as engine:
        yield engine


@pytest.fixture(params=["sqlite", "postgresql"])
def db_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An upgraded database, empty at the start of each test (the session's database, emptied after)."""
    engine: Engine = request.getfixturevalue(f"{'postgres' if request.param == 'postgresql' else 'sqlite'}_engine")
    yield engine
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())
