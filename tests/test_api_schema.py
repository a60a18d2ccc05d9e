"""Property-based run of schemathesis over the OpenAPI document: for generated requests to every operation,
valid and invalid, no 5xx and no response outside the document (status, content type, body schema), on
SQLite and PostgreSQL.

Requests carry an admin token over published versions of the tiny and demo ledgers, so generated ids can
reach real rows. (schemathesis' own pytest loader does not run under pytest 9, hence the explicit loop.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import Engine

from api.auth import create_token
from api.main import create_app
from store.engine import make_engine
from tests.test_api import Solved, api_settings, solved, store_published  # noqa: F401

EXAMPLES_PER_OPERATION = 20
OPENAPI = "/api/v1/openapi.json"
# Operations whose valid input the document cannot describe: a ledger's content (any bytes are a
# schema-valid file) and a zone change's target (an id that must exist in the scenario). For them a
# refusal of schema-valid data (422, 415) is the right answer; every other check still runs.
DATA_DEPENDENT = {
    "POST /api/v1/scenarios",
    "POST /api/v1/scenarios/{scenario_id}/zone-changes",
    # A what-if's changes name points, workers and zones targets that must exist in the scenario.
    "POST /api/v1/planner/scenarios/{scenario_id}/forks",
    "POST /api/v1/planner/scenarios/{scenario_id}/changes",
}


def _operation_labels() -> list[str]:
    """Every operation of the document (it does not depend on the database, so any engine will do)."""
    app = create_app(api_settings(b"labels"), engine=make_engine("sqlite://"), embedded_worker=False)
    results = list(schemathesis.openapi.from_asgi(OPENAPI, app).get_all_operations())
    assert all(isinstance(result, Ok) for result in results), "the document has an invalid operation"
    return [result.ok().label for result in results if isinstance(result, Ok)]


@pytest.fixture
def api(db_engine: Engine, solved: dict[str, Solved], salt: bytes) -> Iterator[tuple[Any, dict[str, str]]]:  # noqa: F811
    """The schema loaded from the running app over published versions, and an admin's headers."""
    for name in ("tiny", "demo"):
        store_published(db_engine, solved[name], salt)
    token, _ = create_token(db_engine, name="schemathesis", role="admin")
    app = create_app(api_settings(salt, max_upload_bytes=1 << 20), engine=db_engine, embedded_worker=False)
    with TestClient(app):  # runs the lifespan
        yield schemathesis.openapi.from_asgi(OPENAPI, app), {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("label", _operation_labels())
def test_no_5xx_and_no_schema_violation(api: tuple[Any, dict[str, str]], label: str) -> None:
    """Generated requests to one operation, valid and invalid, get documented answers and never a 5xx."""
    schema, headers = api
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().label == label)
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))

    @hypothesis.given(case=cases)
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        excluded: list[CheckFunction] = [positive_data_acceptance] if label in DATA_DEPENDENT else []
        # A negative case may leave out the bearer header on purpose: it must then go without it.
        negative = case.meta is not None and case.meta.generation.mode == GenerationMode.NEGATIVE
        dropped_auth = negative and "Authorization" not in (case.headers or {})
        case.call_and_validate(headers={} if dropped_auth else headers, excluded_checks=excluded)

    check()
