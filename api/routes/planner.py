"""Planners' what-if scenarios (指挥部): fork a scenario with changes, solve the fork, compare two scenarios.

The router is mounted at /api/v1/planner and lets through planner and admin tokens only. A fork
records only its changes (`scheduler.whatif`, `store.whatif`); it is solved by the workers like
any scenario, and compared by the newest published versions of the two scenarios.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from api.deps import ConnDep, EngineDep, require
from api.problems import ProblemError, problems
from api.routes.scenarios import ScenarioId
from api.schemas import JobAccepted, LedgerId, SolveRequest
from scheduler.whatif import MAX_ADDED_WORKERS, MAX_DESKS, SETTABLE, Change, WhatIfError, change_from_dict
from store import whatif
from workers.jobs import request_solve

router = APIRouter(prefix="/planner", tags=["planners"], dependencies=[Depends(require("planner", "admin"))])
Text = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Hours = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Desks = Annotated[int, Field(ge=0, le=MAX_DESKS)]


# --- the changes, as the API takes them (each one becomes a `scheduler.whatif` change) ---------------


class _ChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def change(self) -> Change:
        return change_from_dict(self.model_dump())


class ClosePointIn(_ChangeIn):
    """The point does not open; its residents are assigned elsewhere."""

    kind: Literal["close_point"]
    point_id: LedgerId


class OpenPointIn(_ChangeIn):
    """A new sampling point (the columns of points.csv)."""

    kind: Literal["open_point"]
    point_id: LedgerId
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    desks: Desks
    hours: Hours = Field(examples=["07:00-12:00;14:00-20:00"])
    name: Text = ""
    community_id: LedgerId | None = Field(default=None, description="null: a public point.")
    compound_id: LedgerId | None = Field(default=None, description="Set: an in-compound point.")
    accessible: bool = False


class SetDesksIn(_ChangeIn):
    """A point opens at most this many desks."""

    kind: Literal["set_desks"]
    point_id: LedgerId
    desks: Desks


class RemoveWorkerIn(_ChangeIn):
    """A worker or cadre is not on duty this round."""

    kind: Literal["remove_worker"]
    worker_id: LedgerId


class AddWorkersIn(_ChangeIn):
    """More workers of one kind: ids `<id_prefix>1`, `<id_prefix>2`, … (default prefix `+<worker_kind>-`)."""

    kind: Literal["add_workers"]
    worker_kind: Literal["medical", "cadre", "community", "volunteer"]
    skills: list[Literal["sample", "register", "order", "lead", "doorstep"]] = Field(min_length=1, max_length=5)
    count: int = Field(default=1, ge=1, le=MAX_ADDED_WORKERS)
    community_id: LedgerId | None = Field(default=None, description="null: may serve anywhere.")
    available: Hours = Field(default="24小时", examples=["07:00-19:00"])
    id_prefix: Text = ""


class SetZoneIn(_ChangeIn):
    """A community, compound or building becomes this level (normal lifts its zone)."""

    kind: Literal["set_zone"]
    level: Literal["sealed", "controlled", "precaution", "normal"]
    scope: Literal["community", "compound", "building"]
    target_id: LedgerId


class SetSettingIn(_ChangeIn):
    """A number of scenario.toml (e.g. days, desk_rate_per_hour), or round_hours: the round ends that early."""

    kind: Literal["set_setting"]
    key: Literal[tuple(SETTABLE)]  # type: ignore[valid-type]
    value: float = Field(ge=0, le=1_000_000)

    def change(self) -> Change:
        value = int(self.value) if self.value.is_integer() else self.value
        return change_from_dict({"kind": self.kind, "key": self.key, "value": value})


ChangeIn = Annotated[
    ClosePointIn | OpenPointIn | SetDesksIn | RemoveWorkerIn | AddWorkersIn | SetZoneIn | SetSettingIn,
    Field(discriminator="kind"),
]
CHANGE_EXAMPLES: list[JsonValue] = [
    {"kind": "close_point", "point_id": "P00001"},
    {"kind": "add_workers", "worker_kind": "medical", "skills": ["sample", "doorstep"], "count": 4},
    {"kind": "set_setting", "key": "desk_rate_per_hour", "value": 100},
]


class ForkRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "P00001 closed, four more samplers", "changes": CHANGE_EXAMPLES}]},
    )
    name: Name
    changes: list[ChangeIn] = Field(default_factory=list, max_length=1000)


class ChangesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"changes": CHANGE_EXAMPLES[:1]}]})
    changes: list[ChangeIn] = Field(min_length=1, max_length=1000)


def _changes(changes: list[Any]) -> list[Change]:
    found = []
    for number, change in enumerate(changes, start=1):
        try:
            found.append(change.change())
        except WhatIfError as err:
            raise ProblemError(422, f"change {number}: {err}", kind="whatif-invalid") from None
    return found


# --- responses -----------------------------------------------------------------------------------


class PlannerScenario(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 4,
                    "name": "P00001 closed",
                    "parent_id": 1,
                    "ledger_scenario_id": 1,
                    "changes": [{"kind": "close_point", "point_id": "P00001"}],
                    "version_id": 9,
                    "kpis": {"residents": 3000, "covered": 3000},
                }
            ]
        }
    )
    id: int
    name: str
    parent_id: int | None = Field(description="The scenario it was forked from; null: an imported ledger.")
    ledger_scenario_id: int = Field(description="The imported scenario whose ledger it reads.")
    changes: list[dict[str, Any]] = Field(description="Its own changes, in order (each with its `kind`).")
    version_id: int | None = Field(description="Its newest published version; null: not solved yet.")
    kpis: dict[str, Any] | None = Field(description="That version's KPIs (kpis.json).")


class SideOut(BaseModel):
    scenario_id: int
    name: str
    version_id: int


class KpiRowOut(BaseModel):
    key: str
    label: str
    a: int | float | None
    b: int | float | None
    delta: int | float | None = Field(description="b − a.")
    better: Literal["a", "b"] | None = Field(description="Which side is better; null: equal or no direction.")


class PointDifferenceOut(BaseModel):
    point_id: str
    a_state: Literal["open", "idle", "closed"]
    b_state: Literal["open", "idle", "closed"]
    a_residents: int
    b_residents: int
    delta: int


class ComparisonOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "a": {"scenario_id": 1, "name": "demo", "version_id": 2},
                    "b": {"scenario_id": 4, "name": "P00001 closed", "version_id": 9},
                    "kpis": [
                        {
                            "key": "walk_m_total",
                            "label": "walking, total (m)",
                            "a": 185790.9,
                            "b": 232897.2,
                            "delta": 47106.3,
                            "better": "a",
                        }
                    ],
                    "points": [
                        {
                            "point_id": "P00001",
                            "a_state": "open",
                            "b_state": "closed",
                            "a_residents": 1152,
                            "b_residents": 0,
                            "delta": -1152,
                        }
                    ],
                    "residents_differ": 2121,
                    "residents_moved": 1152,
                }
            ]
        }
    )
    a: SideOut
    b: SideOut
    kpis: list[KpiRowOut]
    points: list[PointDifferenceOut] = Field(description="Points whose open state or residents differ.")
    residents_differ: int = Field(description="Residents whose visit (place or time) differs.")
    residents_moved: int = Field(description="Of those, residents sent to another place (or served in one only).")


# --- routes --------------------------------------------------------------------------------------


def _entry(engine: EngineDep, scenario_id: int) -> PlannerScenario:
    try:
        entry = whatif.scenario_entry(engine, scenario_id)
    except whatif.NoSuchScenario as err:
        raise ProblemError(404, str(err), kind="not-found") from None
    return PlannerScenario.model_validate(entry, from_attributes=True)


@router.get(
    "/scenarios",
    response_model=list[PlannerScenario],
    summary="Every scenario, imported and what-if, with its changes and newest published KPIs",
    responses=problems(401, 403),
)
def list_planner_scenarios(engine: EngineDep) -> list[PlannerScenario]:
    return [PlannerScenario.model_validate(e, from_attributes=True) for e in whatif.list_entries(engine)]


@router.get(
    "/scenarios/{scenario_id}",
    response_model=PlannerScenario,
    summary="One scenario with its parent, changes and newest published KPIs",
    responses=problems(401, 403, 404, 422),
)
def get_planner_scenario(engine: EngineDep, scenario_id: ScenarioId) -> PlannerScenario:
    return _entry(engine, scenario_id)


@router.post(
    "/scenarios/{scenario_id}/forks",
    response_model=PlannerScenario,
    status_code=201,
    summary="Fork a scenario into a what-if that records only its changes",
    description="The changes (close or open points, desks, remove or add workers, zones, settings such as `days`, "
    "`desk_rate_per_hour` or `round_hours`) are checked against the scenario and applied in order; a change "
    "that names an unknown point, worker, community or setting is a 422 naming it, and nothing is stored. "
    "Solve the fork with `POST /planner/scenarios/{id}/solve`.",
    responses=problems(400, 401, 403, 404, 422),
)
def fork_scenario(
    response: Response, engine: EngineDep, conn: ConnDep, scenario_id: ScenarioId, body: ForkRequest
) -> PlannerScenario:
    changes = _changes(body.changes)
    conn.rollback()  # end the read before the write (SQLite allows one writer)
    try:
        child = whatif.fork(engine, scenario_id, body.name, changes)
    except whatif.NoSuchScenario as err:
        raise ProblemError(404, str(err), kind="not-found") from None
    except WhatIfError as err:
        raise ProblemError(422, str(err), kind="whatif-invalid") from None
    response.headers["Location"] = f"/api/v1/planner/scenarios/{child}"
    return _entry(engine, child)


@router.post(
    "/scenarios/{scenario_id}/changes",
    response_model=PlannerScenario,
    summary="Add changes to a what-if that is not solved yet",
    description="409 once the what-if has a version or forks of its own: fork it again instead.",
    responses=problems(400, 401, 403, 404, 409, 422),
)
def add_changes(engine: EngineDep, conn: ConnDep, scenario_id: ScenarioId, body: ChangesRequest) -> PlannerScenario:
    changes = _changes(body.changes)
    conn.rollback()  # end the read before the write (SQLite allows one writer)
    try:
        whatif.add_changes(engine, scenario_id, changes)
    except whatif.NoSuchScenario as err:
        raise ProblemError(404, str(err), kind="not-found") from None
    except whatif.ForkFrozen as err:
        raise ProblemError(409, str(err), kind="whatif-frozen") from None
    except WhatIfError as err:
        raise ProblemError(422, str(err), kind="whatif-invalid") from None
    return _entry(engine, scenario_id)


@router.post(
    "/scenarios/{scenario_id}/solve",
    response_model=JobAccepted,
    status_code=202,
    summary="Ask the workers to solve a what-if scenario",
    description="Answers at once with a job id (`GET /jobs/{job_id}`); the workers solve the fork and publish "
    "its version. Only what-if forks: imported scenarios are solved by their coordinators.",
    responses=problems(400, 401, 403, 404, 422),
)
def solve_whatif(
    response: Response, engine: EngineDep, conn: ConnDep, scenario_id: ScenarioId, body: SolveRequest | None = None
) -> JobAccepted:
    if whatif.fork_of(conn, scenario_id) is None:
        raise ProblemError(404, f"no what-if scenario {scenario_id}", kind="not-found")
    conn.rollback()  # end the read before the workers' write (SQLite allows one writer)
    job_id = request_solve(engine, scenario_id, cause="what-if", seed=(body or SolveRequest()).seed)
    return JobAccepted.queued(response, job_id)


@router.get(
    "/compare",
    response_model=ComparisonOut,
    summary="Two scenarios side by side: KPIs, differing points, residents whose visit differs",
    description="Compares the newest published versions of scenarios `a` and `b` (b against a); 409 while one "
    "has no published version.",
    responses=problems(401, 403, 404, 409, 422),
)
def compare(
    engine: EngineDep,
    a: Annotated[int, Query(ge=1, le=2**31 - 1, description="Scenario A (e.g. the parent).")],
    b: Annotated[int, Query(ge=1, le=2**31 - 1, description="Scenario B (e.g. the what-if).")],
) -> ComparisonOut:
    try:
        found = whatif.compare(engine, a, b)
    except whatif.NoSuchScenario as err:
        raise ProblemError(404, str(err), kind="not-found") from None
    except whatif.NotSolved as err:
        raise ProblemError(409, str(err), kind="not-solved") from None
    return ComparisonOut.model_validate(found, from_attributes=True)
