"""Schedule versions of a scenario: their causes, KPIs and diffs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ConnDep, EngineDep, ReaderDep
from api.problems import ProblemError, problems
from api.routes.scenarios import ScenarioId
from api.schemas import VersionDiff, VersionPublic, VisitChangePublic, VisitPublic
from api.scope import community_filter, scenario_for
from api.views import VERSION, residents_where, version_public, versions
from store.versions import VisitRow, visit_diff

router = APIRouter(prefix="/scenarios/{scenario_id}/versions", tags=["coordinators"])
VersionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A schedule version id.")]


@router.get(
    "",
    response_model=list[VersionPublic],
    summary="Every version, newest first",
    responses=problems(401, 403, 404, 422),
)
def list_versions(conn: ConnDep, principal: ReaderDep, scenario_id: ScenarioId) -> list[VersionPublic]:
    scenario_for(conn, principal, scenario_id)
    return versions(conn, scenario_id)


def _version(conn: ConnDep, scenario_id: int, version_id: int) -> VersionPublic:
    row = (
        conn.execute(VERSION.select().where(VERSION.c.id == version_id, VERSION.c.scenario_id == scenario_id))
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise ProblemError(404, f"scenario {scenario_id} has no version {version_id}", kind="not-found")
    return version_public(row)


@router.get(
    "/{version_id}", response_model=VersionPublic, summary="One version", responses=problems(401, 403, 404, 422)
)
def get_version(conn: ConnDep, principal: ReaderDep, scenario_id: ScenarioId, version_id: VersionId) -> VersionPublic:
    scenario_for(conn, principal, scenario_id)
    return _version(conn, scenario_id, version_id)


def _visit(row: VisitRow | None) -> VisitPublic | None:
    return None if row is None else VisitPublic.model_validate(row, from_attributes=True)


@router.get(
    "/{version_id}/diff",
    response_model=VersionDiff,
    summary="Residents whose visit changed against the parent version",
    responses=problems(401, 403, 404, 422),
)
def get_diff(
    engine: EngineDep,
    conn: ConnDep,
    principal: ReaderDep,
    scenario_id: ScenarioId,
    version_id: VersionId,
    limit: Annotated[int, Query(ge=1, le=100_000, description="At most this many residents.")] = 1000,
) -> VersionDiff:
    scenario_for(conn, principal, scenario_id)
    version = _version(conn, scenario_id, version_id)
    communities = community_filter(principal)
    # A coordinator's share of a big diff may lie past the first `limit` rows: cut to scope, then page.
    changes = visit_diff(engine, version_id, limit=None if communities is not None else limit)
    if communities is not None:
        mine = residents_where(conn, scenario_id, [c.resident_id for c in changes], communities)
        changes = [c for c in changes if c.resident_id in mine][:limit]
    return VersionDiff(
        version_id=version.id,
        parent_id=version.parent_id,
        changes=[VisitChangePublic(resident_id=c.resident_id, old=_visit(c.old), new=_visit(c.new)) for c in changes],
    )
