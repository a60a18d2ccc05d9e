"""The coordinators' dashboard and the residents' page: static files served by the API, plus the one JSON
view they need that the others lack (buildings and points with their coordinates and zone levels).

The pages (`pages`, outside /api/v1 and the OpenAPI document) are plain HTML, CSS and JavaScript from
`api/dashboard/`: no build step, nothing fetched from elsewhere; they call the JSON API like any client.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Header
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict
from sqlmodel import SQLModel

from api.deps import ConnDep, ReaderDep
from api.lookup import language
from api.problems import ProblemError
from api.routes.scenarios import ScenarioId
from api.routes.schedule import READ_PROBLEMS
from api.scope import BUILDING, POINT, community_filter, scenario_for
from api.views import _in_scope_points
from scheduler.domain import LEVELS
from store.whatif import ledger_scenario_id, point_rows, zones_in_force

router = APIRouter(prefix="/scenarios/{scenario_id}", tags=["coordinators"])
pages = APIRouter(include_in_schema=False)
RESIDENT = SQLModel.metadata.tables["resident"]
ASSETS = Path(__file__).resolve().parent.parent / "dashboard"
ASSET_TYPES = {
    "app.css": "text/css; charset=utf-8",
    "i18n.js": "text/javascript; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "resident.js": "text/javascript; charset=utf-8",
    "whatif.js": "text/javascript; charset=utf-8",
}
Level = Literal["normal", "precaution", "controlled", "sealed"]
LEVEL_ORDER: tuple[Level, ...] = ("normal", "precaution", "controlled", "sealed")
assert LEVEL_ORDER == LEVELS  # the domain's order of strictness, typed
# Scripts and styles from this server only; the API on the same origin; pages never framed.
# Inline styles: the printables the dashboard opens (blob: documents inherit this policy) carry their own.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class MapBuilding(BaseModel):
    building_id: str
    community_id: str
    compound_id: str
    lat: float
    lon: float
    level: Level
    residents: int


class MapPoint(BaseModel):
    point_id: str
    name: str
    community_id: str | None
    compound_id: str | None
    lat: float
    lon: float
    desks: int
    hours: str
    accessible: bool


class MapView(BaseModel):
    """Buildings (with the zone level the published versions applied) and points, with their coordinates."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scenario_id": 3,
                    "buildings": [
                        {
                            "building_id": "C0001-K01-B001",
                            "community_id": "C0001",
                            "compound_id": "C0001-K01",
                            "lat": 30.271051,
                            "lon": 120.153624,
                            "level": "sealed",
                            "residents": 120,
                        }
                    ],
                    "points": [
                        {
                            "point_id": "P00001",
                            "name": "锦园社区采样点（桥晖公寓）",
                            "community_id": "C0001",
                            "compound_id": None,
                            "lat": 30.271657,
                            "lon": 120.152607,
                            "desks": 2,
                            "hours": "每日;8：00-12：00",
                            "accessible": True,
                        }
                    ],
                }
            ]
        }
    )
    scenario_id: int
    buildings: list[MapBuilding]
    points: list[MapPoint]


def building_levels(buildings: list[tuple[str, str, str]], zones: list[tuple[str, str, str]]) -> dict[str, Level]:
    """The strictest level covering each (building, compound, community), from (level, scope, target) rows."""
    rank: dict[tuple[str, str], int] = {}
    for level, scope, target in zones:
        rank[(scope, target)] = max(rank.get((scope, target), 0), LEVELS.index(level))
    return {
        building: LEVEL_ORDER[
            max(
                rank.get(("building", building), 0),
                rank.get(("compound", compound), 0),
                rank.get(("community", community), 0),
            )
        ]
        for building, compound, community in buildings
    }


@router.get(
    "/map",
    response_model=MapView,
    summary="Buildings with their zone level and points, with coordinates (what the dashboard plots)",
    description="Zone levels are those in force for the published versions (zone changes not yet applied by a "
    "version are listed by /zone-changes). A coordinator gets their communities' buildings, and their points "
    "and the public ones. A what-if fork shows its ledger's buildings, and the points and zones its changes "
    "leave (a closed point is absent, an opened one present).",
    responses=READ_PROBLEMS,
)
def map_view(conn: ConnDep, principal: ReaderDep, scenario_id: ScenarioId) -> MapView:
    scenario_for(conn, principal, scenario_id)
    communities = community_filter(principal)
    ledger = ledger_scenario_id(conn, scenario_id)  # a what-if fork reads its ledger's rows
    query = sa.select(
        BUILDING.c.building_id, BUILDING.c.community_id, BUILDING.c.compound_id, BUILDING.c.lat, BUILDING.c.lon
    ).where(BUILDING.c.scenario_id == ledger)
    if communities is not None:
        query = query.where(BUILDING.c.community_id.in_(sorted(communities)))
    buildings = conn.execute(query.order_by(BUILDING.c.building_id)).all()
    residents: dict[str, int] = dict(
        conn.execute(
            sa.select(RESIDENT.c.building_id, sa.func.count())
            .where(RESIDENT.c.scenario_id == ledger)
            .group_by(RESIDENT.c.building_id)
        ).all()
    )
    levels = building_levels([(b, k, c) for b, c, k, _, _ in buildings], zones_in_force(conn, scenario_id))
    points = point_rows(conn, scenario_id, _in_scope_points(sa.select(POINT), communities, ledger))
    return MapView(
        scenario_id=scenario_id,
        buildings=[
            MapBuilding(
                building_id=b,
                community_id=c,
                compound_id=k,
                lat=lat,
                lon=lon,
                level=levels[b],
                residents=residents.get(b, 0),
            )
            for b, c, k, lat, lon in buildings
        ],
        points=[MapPoint.model_validate(p) for p in points],
    )


# --- the pages -----------------------------------------------------------------------------------


@cache
def _template(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _page(name: str, accept_language: str | None) -> HTMLResponse:
    """The page, its `lang` after Accept-Language (the page's own toggle then decides)."""
    lang = language(accept_language)
    body = _template(name).replace("__LANG__", "zh-CN" if lang == "zh" else "en")
    return HTMLResponse(body, headers={**PAGE_HEADERS, "Content-Language": lang, "Vary": "Accept-Language"})


AcceptLanguage = Annotated[str | None, Header(max_length=200)]


@pages.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/resident", status_code=307)


@pages.get("/dashboard")
def dashboard(accept_language: AcceptLanguage = None) -> HTMLResponse:
    return _page("dashboard.html", accept_language)


@pages.get("/resident")
def resident(accept_language: AcceptLanguage = None) -> HTMLResponse:
    return _page("resident.html", accept_language)


@pages.get("/assets/{name}")
def asset(name: Annotated[str, PathParam(max_length=64)]) -> FileResponse:
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        raise ProblemError(404, f"no asset {name!r}", kind="not-found")
    return FileResponse(ASSETS / name, media_type=media_type, headers=PAGE_HEADERS)
