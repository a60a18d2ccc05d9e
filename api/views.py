"""Reads of published schedule versions, straight from the version tables with SQL.

Every view takes the scenario's newest published version unless asked for another published one,
and cuts lists to the caller's communities (`communities=None`: all). Versions are the scenario's
own; the ledger tables (residents, buildings, points, workers) are read under its ledger's id
(`store.whatif.ledger_scenario_id`: a what-if fork has no rows of its own), and a fork's points and
added workers are those its changes leave (`store.whatif.point_rows`, `added_workers`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlmodel import SQLModel

from api.problems import ProblemError
from api.schemas import (
    DutyPublic,
    LoadsView,
    PointLoad,
    PointResident,
    SlotLoad,
    UnservedResident,
    VersionPublic,
)
from scheduler.domain import NO_REF, Buildings, Points, Residents, RoundSettings, Scenario, Workers, Zones, slot_masks
from scheduler.ledger.hours import parse_hours
from scheduler.schedule import ROLES, ROSTER_DTYPES, Roster, typed_columns
from scheduler.staffing.capacity import on_duty, staffed_capacity
from scheduler.staffing.pool import POINT_ROLES
from store.whatif import added_workers, ledger_scenario_id, point_rows

_t = SQLModel.metadata.tables
VERSION, VISIT, DUTY, POINT = _t["schedule_version"], _t["visit"], _t["duty"], _t["point"]
RESIDENT, BUILDING, WORKER = _t["resident"], _t["building"], _t["worker"]
IN_CHUNK = 1000  # ids per IN (...) list


def round_settings(scenario: RowMapping) -> RoundSettings:
    return RoundSettings(**{f.name: scenario[f.name] for f in dataclasses.fields(RoundSettings)})


def published_version(conn: Connection, scenario_id: int, version_id: int | None) -> RowMapping:
    """The version asked for (it must be a published one of the scenario), or the newest published."""
    query = sa.select(VERSION).where(VERSION.c.scenario_id == scenario_id, VERSION.c.status == "published")
    if version_id is None:
        query = query.order_by(VERSION.c.published_at.desc(), VERSION.c.id.desc()).limit(1)
    else:
        query = query.where(VERSION.c.id == version_id)
    row = conn.execute(query).mappings().one_or_none()
    if row is None:
        what = f"no published version {version_id}" if version_id is not None else "no published schedule yet"
        raise ProblemError(404, f"scenario {scenario_id}: {what}", kind="not-found")
    return row


def version_public(row: RowMapping) -> VersionPublic:
    kpis = dict(row["kpis"] or {})
    unserved = kpis.pop("unserved", [])
    return VersionPublic(
        id=row["id"],
        scenario_id=row["scenario_id"],
        parent_id=row["parent_id"],
        status=row["status"],
        cause=row["cause"],
        seed=row["seed"],
        created_at=row["created_at"],
        published_at=row["published_at"],
        changed_visits=row["changed_visits"],
        unserved=len(unserved),
        kpis=kpis,
    )


def versions(conn: Connection, scenario_id: int) -> list[VersionPublic]:
    rows = conn.execute(sa.select(VERSION).where(VERSION.c.scenario_id == scenario_id).order_by(VERSION.c.id.desc()))
    return [version_public(row) for row in rows.mappings()]


def points_staffed(version: RowMapping) -> bool:
    return bool(version["has_roster"]) and (version["kpis"] or {}).get("points_staffed", True) is not False


def _in_scope_points(query: sa.Select[Any], communities: frozenset[str] | None, scenario_id: int) -> sa.Select[Any]:
    """Points of these communities (directly or through their compound) and public points (`scenario_id`: the
    ledger's)."""
    if communities is None:
        return query
    scope = sorted(communities)
    compounds = sa.select(BUILDING.c.compound_id).where(
        BUILDING.c.scenario_id == scenario_id, BUILDING.c.community_id.in_(scope)
    )
    return query.where(
        sa.or_(
            POINT.c.community_id.in_(scope),
            sa.and_(POINT.c.community_id.is_(None), POINT.c.compound_id.in_(compounds)),
            sa.and_(POINT.c.community_id.is_(None), POINT.c.compound_id.is_(None)),
        )
    )


def points_only(settings: RoundSettings, rows: Sequence[Mapping[str, Any]]) -> Scenario:
    """A scenario holding only these points (no residents, staff or zones), for the scheduler's
    per-point arithmetic (slot masks, staffed capacity) without loading a district's residents."""
    none = np.zeros(0, dtype=np.int32)
    n = len(rows)
    points = Points(
        ids=[p["point_id"] for p in rows],
        names=[p["name"] for p in rows],
        community=np.full(n, NO_REF, dtype=np.int32),
        compound=np.full(n, NO_REF, dtype=np.int32),
        lat=np.array([p["lat"] for p in rows], dtype=np.float64),
        lon=np.array([p["lon"] for p in rows], dtype=np.float64),
        desks=np.array([p["desks"] for p in rows], dtype=np.int32),
        # Stored texts were accepted at import: read them as then (a strict reading is unchanged).
        hours=[parse_hours(p["hours"], accept_suggestion=True) for p in rows],
        accessible=np.array([p["accessible"] for p in rows], dtype=bool),
    )
    return Scenario(
        settings=settings,
        communities=[],
        compounds=[],
        compound_community=none,
        households=[],
        household_building=none,
        buildings=Buildings([], none, none, none.astype(np.float64), none.astype(np.float64), none.astype(np.int16)),
        residents=Residents([], none, none, none.astype(np.int16), none.astype(np.uint8), [], [], []),
        points=points,
        workers=Workers([], [], none.astype(np.int8), none.astype(np.uint8), none, []),
        zones=Zones(none.astype(np.int8), none.astype(np.int8), none),
    )


def _point_roster(conn: Connection, version_id: int, scenario: Scenario) -> Roster:
    """The version's duties at these points, as a roster over `scenario`'s point rows (workers unnamed)."""
    index = {p: i for i, p in enumerate(scenario.points.ids)}
    start = scenario.settings.start
    duties = conn.execute(
        sa.select(DUTY.c.place, DUTY.c.role, DUTY.c.start, DUTY.c.end).where(
            DUTY.c.version_id == version_id, DUTY.c.role.in_(POINT_ROLES)
        )
    )
    rows = [
        (0, index[place], NO_REF, ROLES.index(role), int((a - start).total_seconds()), int((b - start).total_seconds()))
        for place, role, a, b in duties
        if place in index
    ]
    return Roster(*typed_columns(rows, ROSTER_DTYPES))


def loads(
    conn: Connection,
    scenario: RowMapping,
    version: RowMapping,
    communities: frozenset[str] | None,
    point_id: str | None,
) -> LoadsView:
    """Residents per point and slot against the slot's capacity (rule 6, rulings 3 and 4)."""
    settings = round_settings(scenario)
    query = _in_scope_points(sa.select(POINT), communities, ledger_scenario_id(conn, scenario["id"]))
    rows = [p for p in point_rows(conn, scenario["id"], query) if point_id in (None, p["point_id"])]
    points = points_only(settings, rows)
    index = {p: i for i, p in enumerate(points.points.ids)}
    slot_s = settings.slot_minutes * 60
    load = np.zeros((len(rows), settings.n_slots), dtype=np.int64)
    counted = conn.execute(
        sa.select(VISIT.c.point_id, VISIT.c.start, sa.func.count())
        .where(VISIT.c.version_id == version["id"], VISIT.c.mode == "point")
        .group_by(VISIT.c.point_id, VISIT.c.start)
    )
    for pid, start, count in counted:
        slot = int((start - settings.start).total_seconds()) // slot_s
        if pid in index and 0 <= slot < settings.n_slots:
            load[index[pid], slot] += count
    is_open = slot_masks(points.points.hours, settings)
    staffed = points_staffed(version)
    if staffed:
        capacity = staffed_capacity(points, on_duty(points, _point_roster(conn, version["id"], points)))
    else:  # every desk staffed while open (the roster holds doorstep teams only)
        capacity = np.where(is_open, settings.slot_capacity(points.points.desks)[:, None], 0)
    result = []
    for i, p in enumerate(rows):
        shown = np.flatnonzero(is_open[i] | (load[i] > 0) | (capacity[i] > 0))
        slots = [
            SlotLoad(
                start=settings.at(k * settings.slot_minutes),
                end=settings.at((k + 1) * settings.slot_minutes),
                load=int(load[i, k]),
                capacity=int(capacity[i, k]),
            )
            for k in shown.tolist()
        ]
        result.append(
            PointLoad(
                point_id=p["point_id"], name=p["name"], community_id=p["community_id"], desks=p["desks"], slots=slots
            )
        )
    return LoadsView(version_id=version["id"], points_staffed=staffed, points=result)


def roster(conn: Connection, scenario_id: int, version_id: int, point_id: str) -> list[DutyPublic]:
    """The duties at a point (or of a team); workers a fork adds have no row: no name, the kind of their change."""
    ledger = ledger_scenario_id(conn, scenario_id)
    rows = conn.execute(
        sa.select(DUTY.c.worker_id, WORKER.c.name, WORKER.c.kind, DUTY.c.role, DUTY.c.start, DUTY.c.end)
        .select_from(DUTY)
        .outerjoin(WORKER, sa.and_(WORKER.c.scenario_id == ledger, WORKER.c.worker_id == DUTY.c.worker_id))
        .where(DUTY.c.version_id == version_id, DUTY.c.place == point_id)
        .order_by(DUTY.c.start, DUTY.c.role, DUTY.c.worker_id)
    ).all()
    added = added_workers(conn, scenario_id) if any(row.kind is None for row in rows) else {}
    return [
        DutyPublic(
            worker_id=worker,
            name=name or "",
            kind=added[worker] if kind is None else kind,
            role=role,
            start=start,
            end=end,
        )
        for worker, name, kind, role, start, end in rows
    ]


def point_residents(
    conn: Connection,
    scenario_id: int,
    version_id: int,
    point_id: str,
    communities: frozenset[str] | None,
    *,
    limit: int,
    offset: int,
) -> tuple[int, list[PointResident]]:
    """(how many, one page) of the residents sent to a point, in slot order."""
    ledger = ledger_scenario_id(conn, scenario_id)
    where = [VISIT.c.version_id == version_id, VISIT.c.point_id == point_id, VISIT.c.mode == "point"]
    joined = VISIT.join(
        RESIDENT, sa.and_(RESIDENT.c.scenario_id == ledger, RESIDENT.c.resident_id == VISIT.c.resident_id)
    )
    if communities is not None:
        joined = joined.join(
            BUILDING, sa.and_(BUILDING.c.scenario_id == ledger, BUILDING.c.building_id == RESIDENT.c.building_id)
        )
        where.append(BUILDING.c.community_id.in_(sorted(communities)))
    total = conn.execute(sa.select(sa.func.count()).select_from(joined).where(*where)).scalar_one()
    page = conn.execute(
        sa.select(VISIT.c.resident_id, RESIDENT.c.household_id, RESIDENT.c.building_id, VISIT.c.start, VISIT.c.end)
        .select_from(joined)
        .where(*where)
        .order_by(VISIT.c.start, VISIT.c.resident_id)
        .limit(limit)
        .offset(offset)
    )
    return total, [PointResident.model_validate(dict(row)) for row in page.mappings()]


def residents_where(
    conn: Connection, scenario_id: int, resident_ids: list[str], communities: frozenset[str] | None
) -> dict[str, RowMapping]:
    """Household, building and community of these residents, those of `communities` only."""
    ledger = ledger_scenario_id(conn, scenario_id)
    found: dict[str, RowMapping] = {}
    for at in range(0, len(resident_ids), IN_CHUNK):
        query = (
            sa.select(RESIDENT.c.resident_id, RESIDENT.c.household_id, RESIDENT.c.building_id, BUILDING.c.community_id)
            .join(
                BUILDING,
                sa.and_(BUILDING.c.scenario_id == ledger, BUILDING.c.building_id == RESIDENT.c.building_id),
            )
            .where(RESIDENT.c.scenario_id == ledger, RESIDENT.c.resident_id.in_(resident_ids[at : at + IN_CHUNK]))
        )
        if communities is not None:
            query = query.where(BUILDING.c.community_id.in_(sorted(communities)))
        found.update((row["resident_id"], row) for row in conn.execute(query).mappings())
    return found


def unserved(
    conn: Connection, scenario_id: int, version: RowMapping, communities: frozenset[str] | None
) -> list[UnservedResident]:
    entries: list[dict[str, Any]] = (version["kpis"] or {}).get("unserved", [])
    where = residents_where(conn, scenario_id, [str(e["resident_id"]) for e in entries], communities)
    return [
        UnservedResident(
            resident_id=e["resident_id"],
            household_id=where[e["resident_id"]]["household_id"],
            building_id=where[e["resident_id"]]["building_id"],
            community_id=where[e["resident_id"]]["community_id"],
            reason=e["reason"],
            detail=e.get("detail", ""),
        )
        for e in entries
        if e["resident_id"] in where
    ]
