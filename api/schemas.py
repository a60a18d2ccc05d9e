"""Response and request bodies of the API, with examples for the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, NaiveDatetime, StringConstraints, WithJsonSchema

from store.models import ScenarioPublic, ScenarioSummary

# An id as the ledgers write it: printable, no NUL (no database stores one), bounded.
LedgerId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
TIME_EXAMPLE = "2022-04-12T08:00:00"

# Ledger and schedule times are local date-times without offset, as in the contract; JSON Schema's
# `date-time` demands an offset, so they are described by their own pattern.
LOCAL_TIME_SCHEMA = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$",
    "description": "Local date-time without UTC offset, as in the ledgers.",
    "examples": [TIME_EXAMPLE],
}
LocalTime = Annotated[datetime, WithJsonSchema(LOCAL_TIME_SCHEMA)]
LocalTimeIn = Annotated[NaiveDatetime, WithJsonSchema(LOCAL_TIME_SCHEMA)]


def _utc(moment: datetime) -> datetime:
    """Audit instants are stored in UTC; SQLite hands them back without their offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


AuditTime = Annotated[datetime, AfterValidator(_utc)]


def _example(**example: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class Health(BaseModel):
    model_config = _example(status="ok")
    status: Literal["ok"]


class Me(BaseModel):
    """The caller's token: role and scope."""

    model_config = _example(name="锦园社区", role="coordinator", communities=["C0001"], street=None)
    name: str
    role: Literal["coordinator", "planner", "admin"]
    communities: list[str] = Field(description="A coordinator's communities; empty: every community.")
    street: str | None


class ScenarioOut(ScenarioPublic):
    start: LocalTime
    created_at: AuditTime
    parent_id: int | None = Field(default=None, description="A what-if fork's parent scenario; null: imported.")


class ScenarioSummaryOut(ScenarioSummary):
    """A scenario with the counts a coordinator checks after an import."""

    start: LocalTime
    created_at: AuditTime


class ImportResult(BaseModel):
    """An uploaded ledger, imported (created) or found already imported (the same ledger twice)."""

    created: bool
    scenario: ScenarioSummaryOut


class SolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"seed": 0}]})
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of the CP-SAT stages.")


class JobAccepted(BaseModel):
    model_config = _example(job_id=12, status="queued", href="/api/v1/jobs/12")
    job_id: int
    status: str
    href: str

    @classmethod
    def queued(cls, response: Response, job_id: int, href: str | None = None) -> JobAccepted:
        """A 202's body for a job just queued; its address (the job's, unless given) also in `Location`."""
        href = href or f"/api/v1/jobs/{job_id}"
        response.headers["Location"] = href
        return cls(job_id=job_id, status="queued", href=href)


class JobPublic(BaseModel):
    model_config = _example(
        id=12,
        kind="solve",
        scenario_id=3,
        status="done",
        cause="initial solve",
        seed=0,
        version_id=7,
        error=None,
        created_at="2022-04-11T20:01:02Z",
        updated_at="2022-04-11T20:01:40Z",
    )
    id: int
    kind: str
    scenario_id: int
    status: Literal["queued", "running", "done", "failed"]
    cause: str
    seed: int
    version_id: int | None
    error: str | None
    created_at: AuditTime
    updated_at: AuditTime


class VersionPublic(BaseModel):
    """A schedule version: its cause, KPIs (the unserved list only counted) and how many visits changed."""

    model_config = _example(
        id=7,
        scenario_id=3,
        parent_id=6,
        status="published",
        cause="zone change",
        seed=0,
        created_at="2022-04-11T20:01:40Z",
        published_at="2022-04-11T20:01:41Z",
        changed_visits=42,
        unserved=0,
        kpis={"residents": 3000, "covered": 3000, "walk_m_total": 412345.6, "max_slot_utilisation": 0.9},
    )
    id: int
    scenario_id: int
    parent_id: int | None
    status: Literal["draft", "published"]
    cause: str
    seed: int
    created_at: AuditTime
    published_at: AuditTime | None
    changed_visits: int | None = Field(description="Residents whose visit differs from the parent version's.")
    unserved: int = Field(description="Residents the version could not serve (listed by /unserved).")
    kpis: dict[str, Any]


class VisitPublic(BaseModel):
    mode: Literal["point", "doorstep"]
    point_id: str | None
    team_id: str | None
    start: LocalTime
    end: LocalTime


class VisitChangePublic(BaseModel):
    resident_id: str
    old: VisitPublic | None = Field(description="The visit in the parent version; null: none (unserved) there.")
    new: VisitPublic | None = Field(description="The visit in this version; null: none (unserved) here.")


class VersionDiff(BaseModel):
    """The residents whose visit changed against the parent version (of the caller's communities)."""

    model_config = _example(
        version_id=7,
        parent_id=6,
        changes=[
            {
                "resident_id": "R00000042",
                "old": {
                    "mode": "point",
                    "point_id": "P00001",
                    "team_id": None,
                    "start": TIME_EXAMPLE,
                    "end": "2022-04-12T08:30:00",
                },
                "new": {
                    "mode": "doorstep",
                    "point_id": None,
                    "team_id": "T-C0001-01",
                    "start": "2022-04-12T09:06:00",
                    "end": "2022-04-12T09:12:00",
                },
            }
        ],
    )
    version_id: int
    parent_id: int | None
    changes: list[VisitChangePublic]


class SlotLoad(BaseModel):
    start: LocalTime
    end: LocalTime
    load: int = Field(description="Residents sent to the point in this slot.")
    capacity: int = Field(description="Persons the open desks sample in the slot.")


class PointLoad(BaseModel):
    point_id: str
    name: str
    community_id: str | None
    desks: int
    slots: list[SlotLoad] = Field(description="Slots in which the point is open or has residents.")


class LoadsView(BaseModel):
    """Per point and slot: residents sent there against capacity, in a published version."""

    model_config = _example(
        version_id=7,
        points_staffed=False,
        points=[
            {
                "point_id": "P00001",
                "name": "锦园社区采样点（桥晖公寓）",
                "community_id": "C0001",
                "desks": 2,
                "slots": [{"start": TIME_EXAMPLE, "end": "2022-04-12T08:30:00", "load": 98, "capacity": 120}],
            }
        ],
    )
    version_id: int
    points_staffed: bool = Field(description="False: capacity assumes every desk staffed (no point roster yet).")
    points: list[PointLoad]


class DutyPublic(BaseModel):
    worker_id: str
    name: str
    kind: str
    role: str
    start: LocalTime
    end: LocalTime


class RosterView(BaseModel):
    model_config = _example(
        version_id=7,
        point_id="P00001",
        duties=[
            {
                "worker_id": "W000004",
                "name": "廖涵兰",
                "kind": "medical",
                "role": "sample",
                "start": TIME_EXAMPLE,
                "end": "2022-04-12T12:00:00",
            }
        ],
    )
    version_id: int
    point_id: str
    duties: list[DutyPublic]


class PointResident(BaseModel):
    resident_id: str
    household_id: str
    building_id: str
    start: LocalTime
    end: LocalTime


class PointResidentsView(BaseModel):
    """A point's residents in slot order (a page of them: `total` counts all)."""

    model_config = _example(
        version_id=7,
        point_id="P00001",
        total=1520,
        residents=[
            {
                "resident_id": "R00000003",
                "household_id": "H00000002",
                "building_id": "C0001-K01-B001",
                "start": TIME_EXAMPLE,
                "end": "2022-04-12T08:30:00",
            }
        ],
    )
    version_id: int
    point_id: str
    total: int
    residents: list[PointResident]


class UnservedResident(BaseModel):
    resident_id: str
    household_id: str
    building_id: str
    community_id: str
    reason: str = Field(examples=["no_doorstep_team"])
    detail: str


class UnservedView(BaseModel):
    model_config = _example(
        version_id=7,
        unserved=[
            {
                "resident_id": "R00000042",
                "household_id": "H00000017",
                "building_id": "C0001-K01-B008",
                "community_id": "C0001",
                "reason": "no_doorstep_team",
                "detail": "community C0001: no doorstep sampler",
            }
        ],
    )
    version_id: int
    unserved: list[UnservedResident]


class StaffingView(BaseModel):
    """Staff figures of a published version, as its KPIs hold them."""

    model_config = _example(
        version_id=7, points_staffed=False, staff_shortfall=None, unserved_no_staff=0, staff_hours=96.0, doorstep={}
    )
    version_id: int
    points_staffed: bool
    staff_shortfall: Any = Field(
        description="The KPIs' `staff_shortfall` (from the staffing solver); null while the version has none."
    )
    unserved_no_staff: int = Field(description="Unserved residents of the caller's communities for want of staff.")
    staff_hours: float | None
    doorstep: dict[str, Any] | None = Field(description="The KPIs' doorstep figures (teams, samplers used).")


class ZoneChangeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "level": "sealed",
                    "scope": "building",
                    "target_id": "C0001-K01-B003",
                    "effective_at": "2022-04-12T10:00:00",
                }
            ]
        },
    )
    level: Literal["sealed", "controlled", "precaution", "normal"] = Field(description="normal lifts a zone.")
    scope: Literal["community", "compound", "building"]
    target_id: LedgerId
    effective_at: LocalTimeIn


class ZoneChangeAccepted(BaseModel):
    model_config = _example(zone_change_id=5, status="recorded")
    zone_change_id: int
    status: Literal["recorded"]


class ZoneChangePublic(BaseModel):
    model_config = _example(
        id=5,
        level="sealed",
        scope="building",
        target_id="C0001-K01-B003",
        effective_at="2022-04-12T10:00:00",
        created_at="2022-04-12T01:59:00Z",
        applied_version_id=8,
    )
    id: int
    level: str
    scope: str
    target_id: str
    effective_at: LocalTime
    created_at: AuditTime
    applied_version_id: int | None = Field(description="The published version that applied it; null: not yet.")
