"""`python -m workers.health`: exit 0 when what a worker needs answers (Redis and the database), for health checks."""

from __future__ import annotations

import sys

import redis
import sqlalchemy as sa

from store.engine import make_engine
from store.settings import get_settings


def main() -> int:
    settings = get_settings()
    try:
        if settings.redis_url:
            redis.Redis.from_url(settings.redis_url, socket_timeout=2).ping()
        with make_engine(settings.database_url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
