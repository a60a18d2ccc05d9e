"""RFC 9457 problem details: every 4xx (and the 5xx that should never happen) answers `application/problem+json`."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.lookup import LookupUnavailable
from scheduler.ledger import Problem as LedgerProblemItem

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:sched:problem:"
log = logging.getLogger(__name__)


class InvalidParam(BaseModel):
    """One request field that failed validation (RFC 9457's `invalid-params` example)."""

    name: str = Field(examples=["body.phone"])
    reason: str = Field(examples=["String should have at most 32 characters"])


class LedgerProblem(BaseModel):
    """One problem of an uploaded ledger, as the importer names it."""

    file: str = Field(examples=["residents.csv"])
    line: int | None = Field(examples=[5])
    column: str | None = Field(examples=["building_id"])
    value: str | None = Field(examples=["B9"])
    message: str = Field(examples=["unknown building (not in buildings.csv)"])


class Problem(BaseModel):
    """An RFC 9457 problem; `invalid_params` and `ledger_problems` are extension members."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:sched:problem:ledger-invalid",
                    "title": "The ledger has problems; nothing was imported",
                    "status": 422,
                    "detail": "1 problem(s) in the ledger",
                    "ledger_problems": [
                        {
                            "file": "residents.csv",
                            "line": 5,
                            "column": "building_id",
                            "value": "B9",
                            "message": "unknown building (not in buildings.csv)",
                        }
                    ],
                }
            ]
        }
    )

    type: str = Field(default="about:blank", description="A URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong this time, for a person.")
    instance: str | None = Field(default=None, description="The request path.")
    invalid_params: list[InvalidParam] | None = None
    ledger_problems: list[LedgerProblem] | None = None


class ProblemError(Exception):
    """Raise to answer with a problem; `kind` becomes the type URN (`urn:sched:problem:<kind>`)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers
        self.extensions = extensions


def ledger_problems(items: list[LedgerProblemItem]) -> list[LedgerProblem]:
    return [LedgerProblem(file=p.file, line=p.line, column=p.column, value=p.value, message=p.message) for p in items]


def problem_response(
    request: Request,
    status: int,
    *,
    detail: str | None = None,
    kind: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = Problem(
        type=TYPE_PREFIX + kind if kind else "about:blank",
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        **extensions,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these statuses, each an `application/problem+json` Problem."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def install(app: FastAPI) -> None:
    """Turn every error the app can meet into a problem response."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            detail=exc.detail,
            kind=exc.kind,
            title=exc.title,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, exc.status_code, detail=detail, headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        params = [InvalidParam(name=_location(e.get("loc", ())), reason=str(e.get("msg", ""))) for e in exc.errors()]
        return problem_response(
            request,
            422,
            kind="invalid-request",
            title="The request is not valid",
            detail=f"{len(params)} invalid parameter(s)",
            invalid_params=params,
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value that passed validation (out of its range, a NUL in text):
        # that is still the caller's input, so a 422, never a 500.
        log.info("database refused a value on %s: %s", request.url.path, type(exc.orig).__name__)
        return problem_response(request, 422, kind="invalid-value", detail="a value in the request cannot be stored")

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database or Redis is away or busy (a restart, a lock held too long): worth retrying, not a bug.
        log.warning("database unavailable on %s: %s", request.url.path, type(exc).__name__)
        return problem_response(
            request,
            503,
            kind="unavailable",
            detail="the database or the rate limiter does not answer; try again",
            headers={"Retry-After": "1"},
        )

    # SQLAlchemy's, the look-up's own from its asyncpg pool, and the Redis rate limiter's.
    for unavailable in (OperationalError, LookupUnavailable, RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(unavailable, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem_response(request, 500, detail="unexpected error; it has been logged")
