"""Liveness with the database: for load balancers and docker-compose health checks."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from api.deps import EngineDep
from api.problems import problems
from api.schemas import Health

router = APIRouter(tags=["service"])


@router.get(
    "/health",
    response_model=Health,
    summary="The service and its database answer (503 when the database does not)",
    responses=problems(503),
)
def health(engine: EngineDep) -> Health:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    return Health(status="ok")
