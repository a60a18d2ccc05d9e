"""Staff sizing for planners: how many samplers and cadres to call in to finish a round within N hours.

Mounted under /api/v1/planner with the planners' router rules (planner and admin only). A sizing
solves the schedule several times (`scheduler.sizing`), so it is answered in the request only for
scenarios up to `DIRECT_MAX_RESIDENTS` residents (the demo community: a few seconds); a larger one is
refused with a problem pointing to `sched size`, never solved in the request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.deps import ConnDep, EngineDep, PlannerDep, require
from api.problems import ProblemError, problems
from api.routes.scenarios import ScenarioId
from api.scope import scenario_for
from scheduler.limits import SolverLimits
from scheduler.sizing import size_staff
from store.ledger_import import scenario_summary
from store.versions import load_scenario

router = APIRouter(prefix="/planner", tags=["planners"], dependencies=[Depends(require("planner", "admin"))])

DIRECT_MAX_RESIDENTS = 10_000
TIME_LIMIT_S = 10.0  # each CP-SAT stage; one process, one search thread


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


@router.post(
    "/scenarios/{scenario_id}/sizing",
    response_model=SizingOut,
    summary="Workers to call in so that the round finishes within N hours, and what binds",
    description="Cuts the round to `[start, start + hours)`, calls in the fewest samplers, registrars, order "
    "keepers, leads and door samplers (by community and hours) the staff on the ledger lack, and verifies "
    "that the schedule with them serves everyone who can be served within the hours. The bottleneck names "
    f"desks at points (staff cannot help), door teams, or the role and hours short. Scenarios of up to "
    f"{DIRECT_MAX_RESIDENTS:,} residents are answered directly; larger ones need `sched size`.",
    responses=problems(401, 403, 404, 409, 422),
)
def post_sizing(
    engine: EngineDep,
    conn: ConnDep,
    principal: PlannerDep,
    scenario_id: ScenarioId,
    hours: Annotated[float, Query(ge=1, le=24 * 31, description="Finish within this many hours of the start.")],
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="Same scenario and seed, same answer.")] = 0,
) -> SizingOut:
    row = scenario_for(conn, principal, scenario_id)
    if hours * 60 < row["slot_minutes"]:
        raise ProblemError(
            409, f"{hours:g} h is shorter than one {row['slot_minutes']}-minute slot", kind="sizing-invalid"
        )
    conn.rollback()  # end the read: the sizing takes seconds
    summary = scenario_summary(engine, scenario_id)
    _refuse_large(scenario_id, summary.counts.get("residents", 0) if summary else 0, hours)  # before loading
    scenario = load_scenario(engine, scenario_id)
    _refuse_large(scenario_id, len(scenario.residents), hours)  # a what-if fork holds its parent's residents
    sizing = size_staff(scenario, hours, limits=SolverLimits(seed=seed, time_limit_s=TIME_LIMIT_S, processes=1))
    return SizingOut.model_validate(sizing.figures())


def _refuse_large(scenario_id: int, residents: int, hours: float) -> None:
    if residents > DIRECT_MAX_RESIDENTS:
        raise ProblemError(
            422,
            f"scenario {scenario_id} has {residents:,} residents; sizing answers directly up to "
            f"{DIRECT_MAX_RESIDENTS:,} — size it with `sched size SCENARIO --hours {hours:g}`",
            kind="sizing-too-large",
        )
