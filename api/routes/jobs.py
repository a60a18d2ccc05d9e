"""Jobs: what became of a requested solve (or staff sizing: its answer is at `/planner/sizing/{job_id}`)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path
from sqlmodel import SQLModel

from api.deps import ConnDep, ReaderDep
from api.problems import ProblemError, problems
from api.schemas import JobPublic
from api.scope import scenario_for

router = APIRouter(prefix="/jobs", tags=["coordinators"])
JOB = SQLModel.metadata.tables["job"]
JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A job id.")]


@router.get(
    "/{job_id}",
    response_model=JobPublic,
    summary="A job's status, and its version once done",
    description="A solve's job names the version it published; a staff sizing's (`kind` sizing) has no version: "
    "its answer is at `GET /planner/sizing/{job_id}` (planners and admins).",
    responses=problems(401, 403, 404, 422),
)
def get_job(conn: ConnDep, principal: ReaderDep, job_id: JobId) -> JobPublic:
    row = conn.execute(sa.select(JOB).where(JOB.c.id == job_id)).mappings().one_or_none()
    if row is None:
        raise ProblemError(404, f"no job {job_id}", kind="not-found")
    scenario_for(conn, principal, row["scenario_id"])
    return JobPublic.model_validate(dict(row))
