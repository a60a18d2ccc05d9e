"""Staff sizing for planners: how many samplers and cadres to call in to finish a round within N hours.

Mounted under /api/v1/planner with the planners' router rules (planner and admin only). A sizing
solves the schedule several times (`scheduler.sizing`: seconds for the demo, a quarter of an hour for
a district), so it is a job in the workers like a solve, for a scenario of any size: the POST answers
202 with the job, a worker sizes the scenario (`workers.sizing`) and stores the answer on the job,
and `GET /planner/sizing/{job_id}` gives the job's status and, once done, the answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from api.deps import ConnDep, EngineDep, PlannerDep, require
from api.problems import ProblemError, problems
from api.routes.jobs import JobId
from api.routes.scenarios import ScenarioId
from api.schemas import AuditTime, JobAccepted
from api.scope import scenario_for
from workers.jobs import request_sizing
from workers.relay import JOB
from workers.sizing import SIZING

router = APIRouter(prefix="/planner", tags=["planners"], dependencies=[Depends(require("planner", "admin"))])


class SizingCall(BaseModel):
    role: str  # sample, register, order, lead, or doorstep (a door sampler)
    kind: str
    skills: str
    community: str  # "(any)": public points
    available: str  # the hours text of workers.csv
    workers: int


class SizingOut(BaseModel):
    hours: float
    added_workers: int
    added_by_role: dict[str, int]
    added_worker_hours: float
    calls: list[SizingCall]
    bottleneck_kind: str
    bottleneck: list[str]
    desk_bound_residents: int
    verification: dict[str, Any]
    corrections: int
    objective: dict[str, int]
    seconds: float


class SizingJobOut(BaseModel):
    """A sizing job: its status and, once done, its answer (failed: the error)."""

    job_id: int
    scenario_id: int
    status: Literal["queued", "running", "done", "failed"]
    hours: float
    seed: int
    error: str | None
    created_at: AuditTime
    updated_at: AuditTime
    result: SizingOut | None


@router.post(
    "/scenarios/{scenario_id}/sizing",
    response_model=JobAccepted,
    status_code=202,
    summary="Ask the workers which workers to call in so that the round finishes within N hours, and what binds",
    description="Answers at once with a job (`GET /planner/sizing/{job_id}`, also in `Location`), for a scenario of "
    "any size. The workers cut the round to `[start, start + hours)`, call in the fewest samplers, registrars, "
    "order keepers, leads and door samplers (by community and hours) the staff on the ledger lack, and verify "
    "that the schedule with them serves everyone who can be served within the hours. The bottleneck names "
    "desks at points (staff cannot help), door teams, or the role and hours short. A what-if fork is sized as "
    "its changes make it; the zones are those of the published versions.",
    responses=problems(401, 403, 404, 409, 422),
)
def post_sizing(
    response: Response,
    engine: EngineDep,
    conn: ConnDep,
    principal: PlannerDep,
    scenario_id: ScenarioId,
    hours: Annotated[float, Query(ge=1, le=24 * 31, description="Finish within this many hours of the start.")],
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="Same scenario and seed, same answer.")] = 0,
) -> JobAccepted:
    row = scenario_for(conn, principal, scenario_id)
    if hours * 60 < row["slot_minutes"]:
        raise ProblemError(
            409, f"{hours:g} h is shorter than one {row['slot_minutes']}-minute slot", kind="sizing-invalid"
        )
    conn.rollback()  # end the read before the job's write (SQLite allows one writer)
    job_id = request_sizing(engine, scenario_id, hours=hours, seed=seed)
    return JobAccepted.queued(response, job_id, f"/api/v1/planner/sizing/{job_id}")


@router.get(
    "/sizing/{job_id}",
    response_model=SizingJobOut,
    summary="A sizing job's status, and its answer once done",
    description="`result` is null until the job is done: then the workers to call in, the bottleneck and the "
    "verification, as `sched size` prints them.",
    responses=problems(401, 403, 404, 422),
)
def get_sizing(conn: ConnDep, principal: PlannerDep, job_id: JobId) -> SizingJobOut:
    job = conn.execute(sa.select(JOB).where(JOB.c.id == job_id, JOB.c.kind == SIZING)).mappings().one_or_none()
    if job is None:
        raise ProblemError(404, f"no sizing job {job_id}", kind="not-found")
    scenario_for(conn, principal, job["scenario_id"])
    values: dict[str, Any] = {**job, "job_id": job["id"]}
    return SizingJobOut.model_validate(values)
