"""Zone changes: recorded first, then the workers re-solve the communities they touch."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Response
from sqlmodel import SQLModel

from api.deps import ConnDep, CoordinatorDep, EngineDep, ReaderDep
from api.problems import ProblemError, problems
from api.routes.scenarios import ScenarioId
from api.schemas import ZoneChangeAccepted, ZoneChangePublic, ZoneChangeRequest
from api.scope import BUILDING, scenario_for, target_community
from workers.jobs import ZoneChangeError, record_zone_change

router = APIRouter(prefix="/scenarios/{scenario_id}/zone-changes", tags=["coordinators"])
ZONE_CHANGE = SQLModel.metadata.tables["zone_change"]


@router.post(
    "",
    response_model=ZoneChangeAccepted,
    status_code=202,
    summary="A community, compound or building becomes sealed, controlled, precaution or normal",
    description="Recorded at once; the workers then re-solve the communities it touches and publish a new "
    "version (see the versions list and `applied_version_id`). A coordinator may change only their own areas.",
    responses=problems(400, 401, 403, 404, 422),
)
def post_zone_change(
    response: Response,
    engine: EngineDep,
    conn: ConnDep,
    principal: CoordinatorDep,
    scenario_id: ScenarioId,
    change: ZoneChangeRequest,
) -> ZoneChangeAccepted:
    scenario_for(conn, principal, scenario_id)
    community = target_community(conn, scenario_id, change.scope, change.target_id)
    if community is None:
        raise ProblemError(
            422, f"scenario {scenario_id} has no {change.scope} {change.target_id!r}", kind="zone-change-invalid"
        )
    if not principal.sees(community):
        raise ProblemError(403, f"{change.scope} {change.target_id!r} lies in another community", kind="out-of-scope")
    conn.rollback()  # end the read before the write (SQLite allows one writer)
    try:
        change_id = record_zone_change(
            engine,
            scenario_id,
            level=change.level,
            scope=change.scope,
            target_id=change.target_id,
            effective_at=change.effective_at,
        )
    except ZoneChangeError as err:
        raise ProblemError(422, str(err), kind="zone-change-invalid") from None
    response.headers["Location"] = f"/api/v1/scenarios/{scenario_id}/zone-changes"
    return ZoneChangeAccepted(zone_change_id=change_id, status="recorded")


@router.get(
    "",
    response_model=list[ZoneChangePublic],
    summary="Zone changes, newest first, with the version that applied each",
    responses=problems(401, 403, 404, 422),
)
def list_zone_changes(conn: ConnDep, principal: ReaderDep, scenario_id: ScenarioId) -> list[ZoneChangePublic]:
    scenario_for(conn, principal, scenario_id)
    query = sa.select(ZONE_CHANGE).where(ZONE_CHANGE.c.scenario_id == scenario_id).order_by(ZONE_CHANGE.c.id.desc())
    rows = [dict(row) for row in conn.execute(query).mappings()]
    if principal.scoped:
        targets = {
            (scope, target): community
            for scope in ("community", "compound", "building")
            for target, community in conn.execute(
                sa.select(BUILDING.c[f"{scope}_id"], BUILDING.c.community_id)
                .where(
                    BUILDING.c.scenario_id == scenario_id, BUILDING.c.community_id.in_(sorted(principal.communities))
                )
                .distinct()
            )
        }
        rows = [row for row in rows if (row["scope"], row["target_id"]) in targets]
    return [ZoneChangePublic.model_validate(row) for row in rows]
