"""Alembic environment: runs on the connection handed over by `store.engine.upgrade`, or on
an engine made from the settings' DATABASE_URL otherwise.

A new revision, after changing `store/models.py` (review it by hand, keep types portable, and
check it against PostgreSQL too: `tests/test_store.py::test_migration_matches_models`):

    from alembic import command
    from store.engine import alembic_config, make_engine, upgrade
    engine = make_engine("sqlite:////tmp/scratch.db"); upgrade(engine, "head")
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.revision(config, message="what changed", autogenerate=True, rev_id="0002")
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    from store.engine import normalise_url
    from store.settings import get_settings

    context.configure(
        url=normalise_url(get_settings().database_url),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from store.engine import make_engine
    from store.settings import get_settings

    engine = make_engine(get_settings().database_url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
