"""The database engine of a worker process: from DATABASE_URL, or the one an embedded worker is given."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine

from store.engine import make_engine, upgrade
from store.settings import get_settings

_bound: Engine | None = None


@lru_cache
def _from_settings() -> Engine:
    engine = make_engine(get_settings().database_url)
    upgrade(engine)
    return engine


def bind_engine(engine: Engine | None) -> None:
    """Make the actors of this process use `engine` (None: back to DATABASE_URL)."""
    global _bound
    _bound = engine


def get_engine() -> Engine:
    return _bound if _bound is not None else _from_settings()
