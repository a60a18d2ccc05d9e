"""The published schedule of a scenario as coordinators read and print it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api import views
from api.deps import ConnDep, EngineDep, ReaderDep
from api.export import EXPORT_FILES, write_export
from api.problems import ProblemError, problems
from api.routes.scenarios import ScenarioId
from api.schemas import (
    LedgerId,
    LoadsView,
    PointResidentsView,
    RosterView,
    StaffingView,
    UnservedView,
    VersionPublic,
)
from api.scope import community_filter, point_for, scenario_for

router = APIRouter(prefix="/scenarios/{scenario_id}/schedule", tags=["coordinators"])
VersionQuery = Annotated[
    int | None,
    Query(ge=1, le=2**31 - 1, description="A published version of the scenario; default: the newest published."),
]
PointId = Annotated[LedgerId, PathParam(description="A point id of the scenario.")]
READ_PROBLEMS = problems(401, 403, 404, 422)


@router.get("", response_model=VersionPublic, summary="The published version the views read", responses=READ_PROBLEMS)
def published(
    conn: ConnDep, principal: ReaderDep, scenario_id: ScenarioId, version_id: VersionQuery = None
) -> VersionPublic:
    scenario_for(conn, principal, scenario_id)
    return views.version_public(views.published_version(conn, scenario_id, version_id))


@router.get(
    "/loads",
    response_model=LoadsView,
    summary="Per point and slot: residents against capacity",
    responses=READ_PROBLEMS,
)
def loads(
    conn: ConnDep,
    principal: ReaderDep,
    scenario_id: ScenarioId,
    version_id: VersionQuery = None,
    point_id: Annotated[LedgerId | None, Query(description="Only this point.")] = None,
) -> LoadsView:
    scenario = scenario_for(conn, principal, scenario_id)
    if point_id is not None:
        point_for(conn, principal, scenario_id, point_id)
    version = views.published_version(conn, scenario_id, version_id)
    return views.loads(conn, scenario, version, community_filter(principal), point_id)


@router.get(
    "/points/{point_id}/roster",
    response_model=RosterView,
    summary="Who is on duty at a point, when, as what",
    responses=READ_PROBLEMS,
)
def point_roster(
    conn: ConnDep, principal: ReaderDep, scenario_id: ScenarioId, point_id: PointId, version_id: VersionQuery = None
) -> RosterView:
    scenario_for(conn, principal, scenario_id)
    point_for(conn, principal, scenario_id, point_id)
    version = views.published_version(conn, scenario_id, version_id)
    return RosterView(
        version_id=version["id"], point_id=point_id, duties=views.roster(conn, scenario_id, version["id"], point_id)
    )


@router.get(
    "/points/{point_id}/residents",
    response_model=PointResidentsView,
    summary="The residents sent to a point, in slot order (the list printed for the point)",
    responses=READ_PROBLEMS,
)
def point_residents(
    conn: ConnDep,
    principal: ReaderDep,
    scenario_id: ScenarioId,
    point_id: PointId,
    version_id: VersionQuery = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> PointResidentsView:
    scenario_for(conn, principal, scenario_id)
    point_for(conn, principal, scenario_id, point_id)
    version = views.published_version(conn, scenario_id, version_id)
    total, page = views.point_residents(
        conn, scenario_id, version["id"], point_id, community_filter(principal), limit=limit, offset=offset
    )
    return PointResidentsView(version_id=version["id"], point_id=point_id, total=total, residents=page)


@router.get(
    "/unserved",
    response_model=UnservedView,
    summary="Residents the schedule cannot serve, with the reason",
    responses=READ_PROBLEMS,
)
def unserved(
    conn: ConnDep, principal: ReaderDep, scenario_id: ScenarioId, version_id: VersionQuery = None
) -> UnservedView:
    scenario_for(conn, principal, scenario_id)
    version = views.published_version(conn, scenario_id, version_id)
    return UnservedView(
        version_id=version["id"], unserved=views.unserved(conn, scenario_id, version, community_filter(principal))
    )


@router.get(
    "/staffing",
    response_model=StaffingView,
    summary="Staff figures and shortfall of the published version",
    responses=READ_PROBLEMS,
)
def staffing(
    conn: ConnDep, principal: ReaderDep, scenario_id: ScenarioId, version_id: VersionQuery = None
) -> StaffingView:
    scenario_for(conn, principal, scenario_id)
    version = views.published_version(conn, scenario_id, version_id)
    kpis = version["kpis"] or {}
    short = [
        u for u in views.unserved(conn, scenario_id, version, community_filter(principal)) if u.reason == "no_staff"
    ]
    return StaffingView(
        version_id=version["id"],
        points_staffed=views.points_staffed(version),
        staff_shortfall=kpis.get("staff_shortfall"),
        unserved_no_staff=len(short),
        staff_hours=kpis.get("staff_hours"),
        doorstep=kpis.get("doorstep"),
    )


@router.get(
    "/export/{name}",
    response_class=FileResponse,
    summary="One of the contract's schedule files (a coordinator's: their communities only)",
    responses={
        200: {
            "description": "The file, streamed",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        },
        **READ_PROBLEMS,
    },
)
def export(
    engine: EngineDep,
    conn: ConnDep,
    principal: ReaderDep,
    scenario_id: ScenarioId,
    name: Literal["assignments.csv", "roster.csv", "routes.csv", "kpis.json"],
    version_id: VersionQuery = None,
) -> FileResponse:
    scenario_for(conn, principal, scenario_id)
    version = views.published_version(conn, scenario_id, version_id)
    conn.rollback()
    folder = Path(tempfile.mkdtemp(prefix="sched-export-"))
    try:
        write_export(engine, scenario_id, version["id"], community_filter(principal), folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    path = folder / name
    if not path.exists():  # an assignment-only version has no roster file at all
        shutil.rmtree(folder, ignore_errors=True)
        raise ProblemError(404, f"version {version['id']} has no {name} (staffing not decided)", kind="not-found")
    return FileResponse(
        path,
        media_type=EXPORT_FILES[name],
        filename=f"scenario-{scenario_id}-v{version['id']}-{name}",
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
