"""The FastAPI application: `create_app()` builds it (uvicorn runs it with `--factory`, see `sched serve`)."""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.engine import Engine

from api import problems
from api.config import ApiSettings, get_api_settings
from api.lookup import lookups_for
from api.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from api.routes import dashboard, health, jobs, me, planner, printables, residents, scenarios, schedule, versions, zones
from api.routes.sizing import router as sizing_router
from store.engine import make_engine

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)

DESCRIPTION = """\
Schedules of a mass nucleic-acid testing round (全员核酸筛查), for three kinds of caller:

* **coordinators** (社区/街道, a token scoped to their communities or street) upload ledgers, ask for
  solves, read the published schedule of their communities, export the contract's files and post
  zone changes;
* **residents** (no token) look up their own point and time;
* **planners** (指挥部) read every community; their what-if endpoints live under `/planner`.

Every 4xx answers an RFC 9457 `application/problem+json` document.
"""


@functools.cache
def _freeze_startup_heap() -> None:
    """Once per process: what is loaded by the first startup lives as long as the process, so it goes out
    of the collector's sight; a full collection then no longer walks the whole startup heap, which had
    stalled look-ups for tens of ms (their p99 fell from ~100 ms to ~25 ms; bench/bench_lookup.py)."""
    gc.freeze()


def create_app(
    settings: ApiSettings | None = None,
    *,
    engine: Engine | None = None,
    embedded_worker: bool | None = None,
) -> FastAPI:
    """The app; by default its engine, rate limiter and worker follow the settings (DATABASE_URL, REDIS_URL)."""
    settings = settings or get_api_settings()
    start_worker = (
        settings.embedded_worker and settings.redis_url is None if embedded_worker is None else embedded_worker
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        """Per event loop: the look-up's pool and, with REDIS_URL, the rate limiter's client (request.state)."""
        if start_worker:
            from workers.jobs import start_embedded_worker, stop_embedded_worker

            start_embedded_worker(app.state.engine)
        lookups = lookups_for(app.state.engine)
        limiter: RateLimiter = (
            RedisRateLimiter.from_url(settings.redis_url) if settings.redis_url else app.state.memory_limiter
        )
        await lookups.open()
        _freeze_startup_heap()
        try:
            yield {"lookups": lookups, "limiter": limiter}
        finally:
            await lookups.close()
            await limiter.close()
            if start_worker:
                stop_embedded_worker()
            if engine is None:
                app.state.engine.dispose()

    app = FastAPI(
        title="Mass-testing round scheduler",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    # Without Redis the look-up's counters live in this process, shared by every event loop that serves the app.
    app.state.memory_limiter = MemoryRateLimiter()
    problems.install(app)
    api = APIRouter(prefix=API_PREFIX)
    # The residents' look-up first: routes are matched in order, and it is the hot path.
    for module in (residents, health, me, scenarios, jobs, versions, schedule, zones, planner, dashboard, printables):
        api.include_router(module.router)
    api.include_router(sizing_router)
    app.include_router(api)
    app.include_router(dashboard.pages)  # the dashboard and resident pages, outside /api/v1
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document plus the Problem schema the error responses refer to."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        problem = problems.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        app.openapi_schema = document
    return app.openapi_schema
