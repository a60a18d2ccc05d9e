"""Scenarios: upload a ledger, list and read them, ask for a solve."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, File, Query, Response, UploadFile
from fastapi import Path as PathParam

from api.deps import ConnDep, CoordinatorDep, EngineDep, ReaderDep, SettingsDep
from api.problems import ProblemError, ledger_problems, problems
from api.schemas import ImportResult, JobAccepted, ScenarioOut, ScenarioSummaryOut, SolveRequest
from api.scope import SCENARIO, scenario_for, visible_scenario_ids
from api.upload import ledger_path, save_upload
from scheduler.ledger import LedgerError, ledger_digest, read_scenario
from store.ledger_import import import_scenario, scenario_summary
from store.versions import newest_published
from store.whatif import FORK, summary
from workers.jobs import request_solve

router = APIRouter(prefix="/scenarios", tags=["coordinators"])
ScenarioId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="A scenario id.")]


@router.get("", response_model=list[ScenarioOut], summary="Scenarios the caller may see", responses=problems(401, 403))
def list_scenarios(conn: ConnDep, principal: ReaderDep) -> list[ScenarioOut]:
    query = (
        sa.select(SCENARIO, FORK.c.parent_id)
        .outerjoin(FORK, FORK.c.scenario_id == SCENARIO.c.id)
        .order_by(SCENARIO.c.id)
    )
    visible = visible_scenario_ids(conn, principal)
    if visible is not None:
        query = query.where(SCENARIO.c.id.in_(visible))
    return [ScenarioOut.model_validate(dict(row)) for row in conn.execute(query).mappings()]


@router.post(
    "",
    response_model=ImportResult,
    status_code=201,
    summary="Upload a ledger (.xlsx, or a .zip of the CSV files) and import it",
    description="Every problem of every file comes back at once as `ledger_problems` in a 422 problem; "
    "a ledger with any problem imports nothing. The same ledger again answers 200 with `created: false`. "
    "A coordinator may upload only ledgers of their own communities.",
    responses={
        200: {"description": "Already imported", "model": ImportResult},
        **problems(400, 401, 403, 413, 415, 422),
    },
)
def upload_ledger(
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
    principal: CoordinatorDep,
    file: Annotated[UploadFile, File(description="The ledger: an .xlsx workbook or a .zip of CSV files.")],
    accept_suggested_hours: Annotated[
        bool, Query(description="Read an hours text that would be refused by its likely reading (a warning).")
    ] = False,
) -> ImportResult:
    with tempfile.TemporaryDirectory(prefix="sched-upload-") as tmp:
        folder = Path(tmp)
        path = ledger_path(save_upload(file.file, folder, settings.max_upload_bytes), folder, settings.max_upload_bytes)
        try:
            scenario = read_scenario(path, salt=settings.salt, accept_suggestions=accept_suggested_hours)
        except LedgerError as err:
            raise ProblemError(
                422,
                f"{len(err.problems)} problem(s) in the ledger; nothing was imported",
                kind="ledger-invalid",
                title="The ledger has problems; nothing was imported",
                ledger_problems=ledger_problems(err.problems),
            ) from None
        outside = set(scenario.communities) - principal.communities if principal.scoped else set()
        if outside:
            raise ProblemError(
                403,
                f"the ledger covers communities outside this token's scope: {', '.join(sorted(outside)[:10])}",
                kind="out-of-scope",
            )
        digest = ledger_digest(path, salt=settings.salt, accept_suggestions=accept_suggested_hours)
        scenario_id, created = import_scenario(engine, scenario, digest)
    summary = scenario_summary(engine, scenario_id)
    assert summary is not None  # just imported or found
    if not created:
        response.status_code = 200
    return ImportResult(created=created, scenario=ScenarioSummaryOut.model_validate(summary.model_dump()))


@router.get(
    "/{scenario_id}",
    response_model=ScenarioSummaryOut,
    summary="A scenario with its counts",
    responses=problems(401, 403, 404, 422),
)
def get_scenario(engine: EngineDep, conn: ConnDep, principal: ReaderDep, scenario_id: ScenarioId) -> ScenarioSummaryOut:
    scenario_for(conn, principal, scenario_id)
    found = summary(engine, scenario_id)  # a what-if fork: its ledger's counts, its own points and staff
    assert found is not None  # scenario_for found it
    return ScenarioSummaryOut.model_validate(found.model_dump())


@router.post(
    "/{scenario_id}/solve",
    response_model=JobAccepted,
    status_code=202,
    summary="Ask the workers for a schedule of the whole scenario",
    description="Answers at once with a job id; the workers solve and publish a new version. "
    "A coordinator needs every community of the scenario in their scope.",
    responses=problems(400, 401, 403, 404, 422),
)
def solve(
    response: Response,
    engine: EngineDep,
    conn: ConnDep,
    principal: CoordinatorDep,
    scenario_id: ScenarioId,
    body: SolveRequest | None = None,
) -> JobAccepted:
    scenario_for(conn, principal, scenario_id, whole=True)
    conn.rollback()  # end the read before the workers' write (SQLite allows one writer)
    cause = "initial solve" if newest_published(engine, scenario_id) is None else "re-solve requested"
    job_id = request_solve(engine, scenario_id, cause=cause, seed=(body or SolveRequest()).seed)
    return JobAccepted.queued(response, job_id)
