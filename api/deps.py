"""What routes depend on: the settings, the engine, a connection, the caller and their role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Connection, Engine

from api.auth import Principal, authenticate
from api.config import ApiSettings
from api.problems import ProblemError


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def get_conn(engine: EngineDep) -> Iterator[Connection]:
    """A connection for the request's reads (Core queries: the views read many rows)."""
    with engine.connect() as conn:
        yield conn


# The template's SessionDep: Core connections here, since the views read many rows, never ORM objects.
ConnDep = Annotated[Connection, Depends(get_conn)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from `sched token create`: coordinator (scoped to communities or a street), planner or admin.",
)


def current_principal(
    conn: ConnDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    principal = authenticate(conn, credentials.credentials) if credentials else None
    if principal is None:
        raise ProblemError(
            401,
            "a valid bearer token is required (Authorization: Bearer sched_…)",
            kind="unauthenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets through only these roles."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise ProblemError(
                403, f"this needs the role {' or '.join(roles)}; the token is a {principal.role}", kind="forbidden"
            )
        return principal

    return check


# Coordinators change ledgers, ask for solves and zone changes; planners read; admins do both everywhere.
CoordinatorDep = Annotated[Principal, Depends(require("coordinator", "admin"))]
ReaderDep = Annotated[Principal, Depends(require("coordinator", "planner", "admin"))]
PlannerDep = Annotated[Principal, Depends(require("planner", "admin"))]
