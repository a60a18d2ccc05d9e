"""Printables of a published version: a point's sheet, a doorstep team's route sheet, the SMS notices.

Thin: the rows come from the version tables (scoped like every other view: a coordinator's residents
and households only; a what-if fork's ledger rows under its ledger's id, as in `api.views`), the files
from `scheduler.printables`. Languages: `?lang=`, else `Accept-Language`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Header, Query, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from starlette.background import BackgroundTask

from api import views
from api.deps import ConnDep, ReaderDep
from api.lookup import Language, language
from api.problems import ProblemError
from api.routes.scenarios import ScenarioId
from api.routes.schedule import READ_PROBLEMS, PointId, VersionQuery
from api.schemas import TIME_EXAMPLE, LedgerId, LocalTime
from api.scope import BUILDING, community_filter, point_for, scenario_for
from scheduler import printables
from scheduler.domain import FLAGS, names_of
from store.whatif import ledger_scenario_id, point_rows

router = APIRouter(prefix="/scenarios/{scenario_id}/schedule", tags=["coordinators"])
ROUTE_STOP, DUTY, VISIT, RESIDENT = (
    SQLModel.metadata.tables[name] for name in ("route_stop", "duty", "visit", "resident")
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The printed pages hold ledger text (escaped) and need nothing but their own inline style.
PRINT_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
TeamId = Annotated[LedgerId, PathParam(description="A doorstep team id of the version (see /schedule/teams).")]
Format = Annotated[Literal["html", "xlsx"], Query(description="html: a print-ready page; xlsx: a workbook.")]
LangQuery = Annotated[Language | None, Query(description="zh or en; default: after Accept-Language.")]
AcceptLanguage = Annotated[str | None, Header(max_length=200)]
SHEET_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The page or the workbook",
        "content": {"text/html": {"schema": {"type": "string"}}, XLSX: {"schema": {"type": "string"}}},
    },
    **READ_PROBLEMS,
}
ALL_ROWS = 2**31 - 1  # a point's whole list (views.point_residents pages)


class TeamSummary(BaseModel):
    team_id: str
    households: int = Field(description="Doors on the route (the caller's communities only).")
    members: int = Field(description="Workers on the team's duties.")
    first_arrive: LocalTime
    last_depart: LocalTime


class TeamsView(BaseModel):
    """The doorstep teams of a published version that visit the caller's communities."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version_id": 7,
                    "teams": [
                        {
                            "team_id": "T-C0001-01",
                            "households": 31,
                            "members": 1,
                            "first_arrive": TIME_EXAMPLE,
                            "last_depart": "2022-04-12T11:06:00",
                        }
                    ],
                }
            ]
        }
    )
    version_id: int
    teams: list[TeamSummary]


def _page(body: str, lang: Language) -> HTMLResponse:
    return HTMLResponse(body, headers={**PRINT_HEADERS, "Content-Language": lang})


def _workbook(data: bytes, filename: str, lang: Language) -> Response:
    """A workbook to download, under a name that says what and which version."""
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}", "Content-Language": lang},
    )


def _compounds(conn: Connection, scenario_id: int, building_ids: set[str]) -> dict[str, str]:
    ids = sorted(building_ids)
    ledger = ledger_scenario_id(conn, scenario_id)
    found: dict[str, str] = {}
    for at in range(0, len(ids), views.IN_CHUNK):
        rows = conn.execute(
            sa.select(BUILDING.c.building_id, BUILDING.c.compound_id).where(
                BUILDING.c.scenario_id == ledger, BUILDING.c.building_id.in_(ids[at : at + views.IN_CHUNK])
            )
        )
        found.update((b, c) for b, c in rows)
    return found


def _duties(conn: Connection, scenario_id: int, version_id: int, place: str) -> list[printables.Duty]:
    return [printables.Duty(**d.model_dump()) for d in views.roster(conn, scenario_id, version_id, place)]


@router.get(
    "/print/points/{point_id}",
    response_class=Response,
    summary="A point's roster and resident list by slot, as a print-ready page or an .xlsx workbook",
    responses=SHEET_RESPONSES,
)
def point_sheet(
    conn: ConnDep,
    principal: ReaderDep,
    scenario_id: ScenarioId,
    point_id: PointId,
    format: Format = "html",
    lang: LangQuery = None,
    version_id: VersionQuery = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    scenario = scenario_for(conn, principal, scenario_id)
    point = point_for(conn, principal, scenario_id, point_id)
    version = views.published_version(conn, scenario_id, version_id)
    _, listed = views.point_residents(
        conn, scenario_id, version["id"], point_id, community_filter(principal), limit=ALL_ROWS, offset=0
    )
    compound = _compounds(conn, scenario_id, {r.building_id for r in listed})
    sheet = printables.PointSheet(
        scenario=scenario["name"],
        version_id=version["id"],
        point_id=point_id,
        name=point["name"] or point_id,
        hours=point["hours"],
        duties=_duties(conn, scenario_id, version["id"], point_id),
        residents=[
            printables.ListedResident(
                r.start, r.end, r.household_id, r.resident_id, r.building_id, compound.get(r.building_id, "")
            )
            for r in listed
        ],
    )
    chosen = lang or language(accept_language)
    if format == "html":
        return _page(printables.point_html(sheet, chosen), chosen)
    name = f"scenario-{scenario_id}-v{version['id']}-point-{point_id}.xlsx"
    return _workbook(printables.point_xlsx(sheet, chosen), name, chosen)


class _Household(NamedTuple):
    building: str
    compound: str
    community: str
    members: int
    flags: int  # bitmask over scheduler.domain.FLAGS, of all members


def _households(conn: Connection, scenario_id: int, household_ids: list[str]) -> dict[str, _Household]:
    ledger = ledger_scenario_id(conn, scenario_id)
    found: dict[str, _Household] = {}
    for at in range(0, len(household_ids), views.IN_CHUNK):
        rows = conn.execute(
            sa.select(
                RESIDENT.c.household_id,
                RESIDENT.c.building_id,
                BUILDING.c.compound_id,
                BUILDING.c.community_id,
                RESIDENT.c.flags,
            )
            .join(
                BUILDING,
                sa.and_(BUILDING.c.scenario_id == ledger, BUILDING.c.building_id == RESIDENT.c.building_id),
            )
            .where(
                RESIDENT.c.scenario_id == ledger,
                RESIDENT.c.household_id.in_(household_ids[at : at + views.IN_CHUNK]),
            )
        )
        for household, building, compound, community, flags in rows:
            seen = found.get(household, _Household(building, compound, community, 0, 0))
            found[household] = seen._replace(members=seen.members + 1, flags=seen.flags | flags)
    return found


@router.get(
    "/print/teams/{team_id}",
    response_class=Response,
    summary="A doorstep team's route sheet (members, doors in order), as a print-ready page or an .xlsx workbook",
    description="A coordinator sees the team's doors in their communities only, and no team without one.",
    responses=SHEET_RESPONSES,
)
def route_sheet(
    conn: ConnDep,
    principal: ReaderDep,
    scenario_id: ScenarioId,
    team_id: TeamId,
    format: Format = "html",
    lang: LangQuery = None,
    version_id: VersionQuery = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    scenario = scenario_for(conn, principal, scenario_id)
    version = views.published_version(conn, scenario_id, version_id)
    stops = conn.execute(
        sa.select(ROUTE_STOP.c.seq, ROUTE_STOP.c.household_id, ROUTE_STOP.c.arrive, ROUTE_STOP.c.depart)
        .where(ROUTE_STOP.c.version_id == version["id"], ROUTE_STOP.c.team_id == team_id)
        .order_by(ROUTE_STOP.c.seq)
    ).all()
    # A team's members are its doorstep duties (ruling 7); a point's id names no team.
    members = [d for d in _duties(conn, scenario_id, version["id"], team_id) if d.role == "doorstep"]
    if not stops and not members:
        raise ProblemError(404, f"version {version['id']} has no doorstep team {team_id!r}", kind="not-found")
    households = _households(conn, scenario_id, [s.household_id for s in stops])
    visible = [s for s in stops if principal.sees(households[s.household_id].community)]
    if principal.scoped and not visible:
        raise ProblemError(403, f"team {team_id!r} visits none of this token's communities", kind="out-of-scope")
    sheet = printables.RouteSheet(
        scenario=scenario["name"],
        version_id=version["id"],
        team_id=team_id,
        members=members,
        stops=[
            printables.Stop(
                seq=s.seq,
                household_id=s.household_id,
                building_id=households[s.household_id].building,
                compound_id=households[s.household_id].compound,
                members=households[s.household_id].members,
                flags=tuple(names_of(households[s.household_id].flags, FLAGS)),
                arrive=s.arrive,
                depart=s.depart,
            )
            for s in visible
        ],
    )
    chosen = lang or language(accept_language)
    if format == "html":
        return _page(printables.route_html(sheet, chosen), chosen)
    name = f"scenario-{scenario_id}-v{version['id']}-team-{team_id}.xlsx"
    return _workbook(printables.route_xlsx(sheet, chosen), name, chosen)


@router.get(
    "/teams",
    response_model=TeamsView,
    summary="The doorstep teams and their routes' size and time (the caller's communities' doors)",
    responses=READ_PROBLEMS,
)
def teams(conn: ConnDep, principal: ReaderDep, scenario_id: ScenarioId, version_id: VersionQuery = None) -> TeamsView:
    scenario_for(conn, principal, scenario_id)
    version = views.published_version(conn, scenario_id, version_id)
    ledger = ledger_scenario_id(conn, scenario_id)
    on_routes = sa.select(ROUTE_STOP.c.household_id).where(ROUTE_STOP.c.version_id == version["id"])
    household = (
        sa.select(RESIDENT.c.household_id, BUILDING.c.community_id)
        .join(BUILDING, sa.and_(BUILDING.c.scenario_id == ledger, BUILDING.c.building_id == RESIDENT.c.building_id))
        .where(RESIDENT.c.scenario_id == ledger, RESIDENT.c.household_id.in_(on_routes))
        .distinct()
        .subquery("household")
    )
    query = (
        sa.select(
            ROUTE_STOP.c.team_id, sa.func.count(), sa.func.min(ROUTE_STOP.c.arrive), sa.func.max(ROUTE_STOP.c.depart)
        )
        .join(household, household.c.household_id == ROUTE_STOP.c.household_id)
        .where(ROUTE_STOP.c.version_id == version["id"])
        .group_by(ROUTE_STOP.c.team_id)
        .order_by(ROUTE_STOP.c.team_id)
    )
    communities = community_filter(principal)
    if communities is not None:
        query = query.where(household.c.community_id.in_(sorted(communities)))
    routes = conn.execute(query).all()
    members: dict[str, int] = dict(
        conn.execute(
            sa.select(DUTY.c.place, sa.func.count(sa.distinct(DUTY.c.worker_id)))
            .where(DUTY.c.version_id == version["id"], DUTY.c.place.in_([team for team, *_ in routes]))
            .group_by(DUTY.c.place)
        ).all()
    )
    return TeamsView(
        version_id=version["id"],
        teams=[
            TeamSummary(team_id=team, households=n, members=members.get(team, 0), first_arrive=a, last_depart=b)
            for team, n, a, b in routes
        ],
    )


def _notices(rows: Any, point_names: dict[str, str]) -> Iterator[printables.Notice]:
    """One notice per household from resident rows ordered by building and household (members share a visit)."""
    for household, members in groupby(rows, key=lambda row: row[0]):
        _, building, compound, mode, point_id, start, end = next(members)
        yield printables.Notice(
            household_id=household,
            building_id=building,
            compound_id=compound,
            mode=mode if mode in ("point", "doorstep") else "unscheduled",
            point_name=point_names.get(point_id, "") if point_id is not None else "",
            start=start,
            end=end,
        )


@router.get(
    "/print/notices.csv",
    response_class=FileResponse,
    summary="The SMS notice file: one line per household (point or door, address, time), no id number or phone",
    description="UTF-8 with BOM (Excel opens it as is). A household without a visit gets a `unscheduled` line.",
    responses={
        200: {"description": "The file", "content": {"text/csv": {"schema": {"type": "string"}}}},
        **READ_PROBLEMS,
    },
)
def notices(
    conn: ConnDep,
    principal: ReaderDep,
    scenario_id: ScenarioId,
    lang: LangQuery = None,
    version_id: VersionQuery = None,
    accept_language: AcceptLanguage = None,
) -> FileResponse:
    scenario_for(conn, principal, scenario_id)
    version = views.published_version(conn, scenario_id, version_id)
    ledger = ledger_scenario_id(conn, scenario_id)
    point_names = {p["point_id"]: p["name"] for p in point_rows(conn, scenario_id)}  # a fork's opened ones too
    query = (
        sa.select(
            RESIDENT.c.household_id,
            RESIDENT.c.building_id,
            BUILDING.c.compound_id,
            VISIT.c.mode,
            VISIT.c.point_id,
            VISIT.c.start,
            VISIT.c.end,
        )
        .select_from(
            RESIDENT.join(
                BUILDING,
                sa.and_(BUILDING.c.scenario_id == ledger, BUILDING.c.building_id == RESIDENT.c.building_id),
            ).outerjoin(
                VISIT, sa.and_(VISIT.c.version_id == version["id"], VISIT.c.resident_id == RESIDENT.c.resident_id)
            )
        )
        .where(RESIDENT.c.scenario_id == ledger)
        .order_by(RESIDENT.c.building_id, RESIDENT.c.household_id, RESIDENT.c.resident_id)
    )
    communities = community_filter(principal)
    if communities is not None:
        query = query.where(BUILDING.c.community_id.in_(sorted(communities)))
    folder = Path(tempfile.mkdtemp(prefix="sched-notices-"))
    path = folder / "notices.csv"
    try:
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            rows = conn.execution_options(yield_per=10_000).execute(query)
            printables.write_notices(_notices(rows, point_names), out, lang or language(accept_language))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type="text/csv; charset=utf-8",
        filename=f"scenario-{scenario_id}-v{version['id']}-notices.csv",
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
