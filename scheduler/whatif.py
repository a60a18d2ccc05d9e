"""Planners' what-if scenarios: a child is its parent plus a list of changes; and two schedules compared.

Changes are plain dataclasses, stored as JSON (`change_to_dict` / `change_from_dict`, the key
`kind` naming the change). `apply_changes` applies them in order to a `Scenario` and returns a
new one (the parent is never modified); a change that names an unknown point, worker,
community, compound, building or setting, or carries an unusable value, raises `WhatIfError`
naming the change. Closing a point removes its row (its residents go elsewhere, and a
controlled compound that loses its only in-compound point is sampled at the door); a new
point or new workers are appended after the existing rows.

`compare_kpis` and `point_differences` put two schedules' figures side by side (pure: they
take the stored `kpis.json` documents and per-point loads).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from scheduler.domain import KINDS, LEVELS, NO_REF, SCOPES, SKILL_BIT, Points, Scenario, Workers, Zones
from scheduler.ledger.hours import HoursError, parse_hours
from scheduler.ledger.reader import LIST_SEPARATORS, SETTING_TYPES, ZERO_ALLOWED
from scheduler.resolve import with_zone
from scheduler.schedule import POINT, UNSERVED, Roster, Schedule

NORMAL = LEVELS[0]  # a zone change to this level lifts the zone of its target
MAX_DESKS = 1000  # as the ledger reader allows
MAX_ADDED_WORKERS = 10_000  # per change


class WhatIfError(ValueError):
    """A change that cannot be applied; the message names the change (its position and kind)."""


# --- the changes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClosePoint:
    """The point does not open: its row goes, its residents are assigned elsewhere."""

    point_id: str


@dataclass(frozen=True)
class OpenPoint:
    """A new sampling point, with the columns of `points.csv`."""

    point_id: str
    lat: float
    lon: float
    desks: int
    hours: str
    name: str = ""
    community_id: str | None = None  # None: a public point
    compound_id: str | None = None  # set: an in-compound point
    accessible: bool = False


@dataclass(frozen=True)
class SetDesks:
    """A point opens this many desks at most."""

    point_id: str
    desks: int


@dataclass(frozen=True)
class RemoveWorker:
    """The worker (or cadre) is not on duty this round."""

    worker_id: str


@dataclass(frozen=True)
class AddWorkers:
    """`count` more workers of one kind, with ids `<id_prefix><n>` (n = 1, 2, …)."""

    worker_kind: str
    skills: tuple[str, ...]
    count: int = 1
    community_id: str | None = None  # None: may serve anywhere (public points first)
    available: str = "24小时"
    id_prefix: str = ""  # default: "+<worker_kind>-"

    @property
    def prefix(self) -> str:
        return self.id_prefix or f"+{self.worker_kind}-"

    @property
    def ids(self) -> list[str]:
        return [f"{self.prefix}{n}" for n in range(1, self.count + 1)]


@dataclass(frozen=True)
class SetZone:
    """A community, compound or building becomes `level` (`normal` lifts its zone), replacing that target's zone."""

    level: str
    scope: str
    target_id: str


@dataclass(frozen=True)
class SetSetting:
    """A key of `scenario.toml` (e.g. `days`, `desk_rate_per_hour`), or `round_hours`: the round ends that early."""

    key: str
    value: float | int


Change = ClosePoint | OpenPoint | SetDesks | RemoveWorker | AddWorkers | SetZone | SetSetting

KINDS_OF_CHANGE: dict[str, type[Change]] = {
    "close_point": ClosePoint,
    "open_point": OpenPoint,
    "set_desks": SetDesks,
    "remove_worker": RemoveWorker,
    "add_workers": AddWorkers,
    "set_zone": SetZone,
    "set_setting": SetSetting,
}
_KIND_NAMES = {cls: name for name, cls in KINDS_OF_CHANGE.items()}
ROUND_HOURS = "round_hours"
# Settings a what-if may change: the contract's numbers (not the name or the start), and the round's length.
SETTABLE: dict[str, type] = {
    **{k: t for k, (t, _) in SETTING_TYPES.items() if t in (int, float)},
    ROUND_HOURS: float,
}


def kind_of(change: Change) -> str:
    return _KIND_NAMES[type(change)]


def change_to_dict(change: Change) -> dict[str, Any]:
    """The change as stored and as the API shows it: its fields plus `kind`."""
    values = dataclasses.asdict(change)
    if isinstance(change, AddWorkers):
        values["skills"] = list(change.skills)
    return {"kind": kind_of(change), **values}


def change_from_dict(values: Mapping[str, Any]) -> Change:
    """A change from its dict (`kind` plus fields); `WhatIfError` for an unknown kind or field."""
    data = dict(values)
    kind = data.pop("kind", None)
    cls = KINDS_OF_CHANGE.get(str(kind))
    if cls is None:
        raise WhatIfError(f"unknown change kind {kind!r}; expected one of {', '.join(KINDS_OF_CHANGE)}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise WhatIfError(f"{kind}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(names))}")
    if cls is AddWorkers and "skills" in data:
        skills = data["skills"]
        data["skills"] = tuple(LIST_SEPARATORS.split(skills) if isinstance(skills, str) else skills)
    try:
        return cls(**data)
    except TypeError as err:
        raise WhatIfError(f"{kind}: {err}") from None


# --- applying them -----------------------------------------------------------------------------------


def apply_changes(scenario: Scenario, changes: Sequence[Change]) -> Scenario:
    """The scenario with `changes` applied in order; `WhatIfError` (naming the change) when one cannot be."""
    for number, change in enumerate(changes, start=1):
        try:
            scenario = _apply(scenario, change)
        except WhatIfError as err:
            raise WhatIfError(f"change {number} ({kind_of(change)}): {err}") from None
    return scenario


def _apply(scenario: Scenario, change: Change) -> Scenario:
    if isinstance(change, ClosePoint):
        keep = np.ones(len(scenario.points), dtype=bool)
        keep[_point_row(scenario, change.point_id)] = False
        return replace(scenario, points=_take_points(scenario.points, keep))
    if isinstance(change, OpenPoint):
        return replace(scenario, points=_with_point(scenario, change))
    if isinstance(change, SetDesks):
        row = _point_row(scenario, change.point_id)
        desks = scenario.points.desks.copy()
        desks[row] = _desks(change.desks)
        return replace(scenario, points=replace(scenario.points, desks=desks))
    if isinstance(change, RemoveWorker):
        if change.worker_id not in scenario.workers.ids:
            raise WhatIfError(f"no worker {change.worker_id!r}")
        keep = np.array([w != change.worker_id for w in scenario.workers.ids], dtype=bool)
        return replace(scenario, workers=_take_workers(scenario.workers, keep))
    if isinstance(change, AddWorkers):
        return replace(scenario, workers=_with_workers(scenario, change))
    if isinstance(change, SetZone):
        return set_zone(scenario, change.level, change.scope, change.target_id)
    return replace(scenario, settings=_with_setting(scenario, change))


def _point_row(scenario: Scenario, point_id: str) -> int:
    try:
        return scenario.points.ids.index(point_id)
    except ValueError:
        raise WhatIfError(f"no point {point_id!r}") from None


def _desks(desks: int) -> int:
    if isinstance(desks, bool) or not isinstance(desks, int) or not 0 <= desks <= MAX_DESKS:
        raise WhatIfError(f"desks {desks!r}: expected a whole number 0..{MAX_DESKS}")
    return desks


def _hours(text: str) -> Any:
    try:
        return parse_hours(text)
    except HoursError as err:
        raise WhatIfError(str(err)) from None


def _community(scenario: Scenario, community_id: str | None) -> int:
    if community_id is None or community_id == "":
        return NO_REF
    try:
        return scenario.communities.index(community_id)
    except ValueError:
        raise WhatIfError(f"no community {community_id!r} (no building lies in it)") from None


def _take_points(p: Points, keep: np.ndarray) -> Points:
    rows = np.flatnonzero(keep)
    return Points(
        ids=[p.ids[i] for i in rows],
        names=[p.names[i] for i in rows],
        community=p.community[rows],
        compound=p.compound[rows],
        lat=p.lat[rows],
        lon=p.lon[rows],
        desks=p.desks[rows],
        hours=[p.hours[i] for i in rows],
        accessible=p.accessible[rows],
    )


def _with_point(scenario: Scenario, new: OpenPoint) -> Points:
    p = scenario.points
    if not new.point_id:
        raise WhatIfError("point_id is empty")
    if new.point_id in p.ids:
        raise WhatIfError(f"point {new.point_id!r} already exists")
    if not (-90 <= new.lat <= 90 and -180 <= new.lon <= 180):
        raise WhatIfError(f"lat/lon {new.lat}, {new.lon}: outside -90..90, -180..180 degrees")
    community = _community(scenario, new.community_id)
    compound = NO_REF
    if new.compound_id:
        try:
            compound = scenario.compounds.index(new.compound_id)
        except ValueError:
            raise WhatIfError(f"no compound {new.compound_id!r}") from None
        inside = int(scenario.compound_community[compound])
        if community not in (NO_REF, inside):
            raise WhatIfError(f"compound {new.compound_id!r} does not lie in community {new.community_id!r}")
        community = inside  # an in-compound point belongs to its compound's community
    return Points(
        ids=[*p.ids, new.point_id],
        names=[*p.names, new.name],
        community=np.append(p.community, community).astype(np.int32),
        compound=np.append(p.compound, compound).astype(np.int32),
        lat=np.append(p.lat, float(new.lat)),
        lon=np.append(p.lon, float(new.lon)),
        desks=np.append(p.desks, _desks(new.desks)).astype(np.int32),
        hours=[*p.hours, _hours(new.hours)],
        accessible=np.append(p.accessible, bool(new.accessible)),
    )


def _take_workers(w: Workers, keep: np.ndarray) -> Workers:
    rows = np.flatnonzero(keep)
    return Workers(
        ids=[w.ids[i] for i in rows],
        names=[w.names[i] for i in rows],
        kind=w.kind[rows],
        skills=w.skills[rows],
        community=w.community[rows],
        available=[w.available[i] for i in rows],
    )


def _with_workers(scenario: Scenario, add: AddWorkers) -> Workers:
    w = scenario.workers
    if add.worker_kind not in KINDS:
        raise WhatIfError(f"worker_kind {add.worker_kind!r}: expected one of {', '.join(KINDS)}")
    skills = [s.strip().lower() for s in add.skills if s.strip()]
    unknown = [s for s in skills if s not in SKILL_BIT]
    if not skills or unknown:
        raise WhatIfError(f"skills {list(add.skills)!r}: expected one or more of {', '.join(SKILL_BIT)}")
    if isinstance(add.count, bool) or not isinstance(add.count, int) or not 1 <= add.count <= MAX_ADDED_WORKERS:
        raise WhatIfError(f"count {add.count!r}: expected a whole number 1..{MAX_ADDED_WORKERS}")
    community = _community(scenario, add.community_id)
    available = _hours(add.available)
    ids = add.ids
    taken = set(w.ids).intersection(ids)
    if taken:
        raise WhatIfError(f"worker id {sorted(taken)[0]!r} already exists; choose another id_prefix")
    mask = sum(SKILL_BIT[s] for s in set(skills))
    n = add.count
    return Workers(
        ids=[*w.ids, *ids],
        names=[*w.names, *([""] * n)],
        kind=np.append(w.kind, [KINDS.index(add.worker_kind)] * n).astype(np.int8),
        skills=np.append(w.skills, [mask] * n).astype(np.uint8),
        community=np.append(w.community, [community] * n).astype(np.int32),
        available=[*w.available, *([available] * n)],
    )


def set_zone(scenario: Scenario, level: str, scope: str, target_id: str) -> Scenario:
    """The zone of one community, compound or building replaced by `level` (`normal`: no zone of its own).

    Zones on other scopes still apply, the strictest winning (as for a coordinator's zone change).
    """
    if level not in LEVELS:
        raise WhatIfError(f"level {level!r}: expected one of {', '.join(LEVELS)}")
    if scope not in SCOPES:
        raise WhatIfError(f"scope {scope!r}: expected one of {', '.join(SCOPES)}")
    ids = {"community": scenario.communities, "compound": scenario.compounds, "building": scenario.buildings.ids}
    try:
        target = ids[scope].index(target_id)
    except ValueError:
        raise WhatIfError(f"no {scope} {target_id!r}") from None
    z = scenario.zones
    keep = ~((z.scope == SCOPES.index(scope)) & (z.target == target))
    scenario = replace(scenario, zones=Zones(level=z.level[keep], scope=z.scope[keep], target=z.target[keep]))
    return scenario if level == NORMAL else with_zone(scenario, level, scope, target)


def _with_setting(scenario: Scenario, change: SetSetting) -> Any:
    kind = SETTABLE.get(change.key)
    if kind is None:
        raise WhatIfError(f"unknown setting {change.key!r}; expected one of {', '.join(SETTABLE)}")
    value = change.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WhatIfError(f"{change.key} = {value!r}: not a number")
    if kind is int and not float(value).is_integer():
        raise WhatIfError(f"{change.key} = {value!r}: not a whole number")
    if value < 0 or (value == 0 and change.key not in ZERO_ALLOWED):
        raise WhatIfError(f"{change.key} = {value!r}: must be positive")
    settings = scenario.settings
    if change.key == ROUND_HOURS:
        if value * 60 < settings.slot_minutes:
            raise WhatIfError(f"round_hours {value!r} is shorter than one {settings.slot_minutes}-minute slot")
        return settings.within_hours(float(value))
    updated = replace(settings, **{change.key: kind(value)})
    if updated.max_shift_hours * 60 < updated.slot_minutes:
        raise WhatIfError(f"max_shift_hours {updated.max_shift_hours} is shorter than one slot")
    return updated


# --- comparing two schedules -----------------------------------------------------------------------


@dataclass(frozen=True)
class KpiRow:
    """One line of a comparison: the figure in A and in B, B − A, and which one is better (None: neither)."""

    key: str
    label: str
    a: float | int | None
    b: float | int | None
    delta: float | int | None
    better: str | None  # "a", "b" or None (equal, or no direction)


# key, label, direction (+1: more is better, -1: less is better, 0: neither)
KPI_ROWS: tuple[tuple[str, str, int], ...] = (
    ("residents", "residents", 0),
    ("covered", "covered", 1),
    ("coverage", "coverage (share covered)", 1),
    ("unserved", "unserved residents", -1),
    ("walk_m_total", "walking, total (m)", -1),
    ("walk_m_mean", "walking, mean (m)", -1),
    ("walk_m_max", "walking, longest (m)", -1),
    ("max_slot_utilisation", "max slot utilisation", -1),
    ("share_in_crowded_slots", "share in crowded slots", -1),
    ("points_used", "points used", 0),
    ("desks_opened", "desks opened", 0),
    ("staff_hours", "staff hours", -1),
    ("staff_requirement_covered", "staff requirement covered (worst role)", 1),
    ("staff_shortfall_lines", "staff shortfall lines", -1),
    ("staff_shortfall_worker_hours", "staff shortfall (worker-hours)", -1),
    ("doorstep_households", "doorstep households", 0),
    ("doorstep_completion_minutes", "doorstep completion, sealed (min)", -1),
    ("doorstep_completion_all_minutes", "doorstep completion, all (min)", -1),
)


def kpi_figures(kpis: Mapping[str, Any]) -> dict[str, float | int | None]:
    """The compared figures of one stored `kpis.json` document (None where the document has none)."""
    residents = kpis.get("residents")
    covered = kpis.get("covered")
    staffing = kpis.get("staffing") or {}
    coverage_by_role = staffing.get("requirement_coverage") or {}
    shortfall = kpis.get("staff_shortfall")
    doorstep = kpis.get("doorstep") or {}
    figures: dict[str, float | int | None] = {k: kpis.get(k) for k, _, _ in KPI_ROWS}
    figures["coverage"] = round(covered / residents, 4) if residents and covered is not None else None
    figures["unserved"] = len(kpis.get("unserved") or [])
    figures["staff_requirement_covered"] = min(coverage_by_role.values()) if coverage_by_role else None
    figures["staff_shortfall_lines"] = None if shortfall is None else len(shortfall)
    figures["staff_shortfall_worker_hours"] = None if shortfall is None else _worker_hours(shortfall)
    figures["doorstep_completion_minutes"] = doorstep.get("completion_minutes")
    figures["doorstep_completion_all_minutes"] = doorstep.get("completion_all_minutes")
    return figures


def _worker_hours(shortfall: Iterable[Mapping[str, Any]]) -> float:
    total = 0.0
    for entry in shortfall:
        start, end = datetime.fromisoformat(entry["start"]), datetime.fromisoformat(entry["end"])
        total += entry["workers"] * (end - start).total_seconds() / 3600
    return round(total, 2)


def compare_kpis(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[KpiRow]:
    """The KPI table of two stored `kpis.json` documents, in `KPI_ROWS` order."""
    fa, fb = kpi_figures(a), kpi_figures(b)
    rows = []
    for key, label, direction in KPI_ROWS:
        va, vb = fa[key], fb[key]
        delta = None if va is None or vb is None else round(vb - va, 4)
        better = None
        if delta and direction:
            better = "b" if delta * direction > 0 else "a"
        rows.append(KpiRow(key, label, va, vb, delta, better))
    return rows


@dataclass(frozen=True)
class PointDifference:
    """A point whose state or load differs: state `closed` (not in that scenario), `idle` (no residents) or `open`."""

    point_id: str
    a_state: str
    b_state: str
    a_residents: int
    b_residents: int
    delta: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "delta", self.b_residents - self.a_residents)


def point_differences(
    a_points: Iterable[str], a_loads: Mapping[str, int], b_points: Iterable[str], b_loads: Mapping[str, int]
) -> list[PointDifference]:
    """Points (of either scenario) whose open state or number of residents differs, by point id."""
    in_a, in_b = set(a_points), set(b_points)

    def state(present: bool, load: int) -> str:
        return "closed" if not present else ("open" if load else "idle")

    found = []
    for point_id in sorted(in_a | in_b):
        la, lb = int(a_loads.get(point_id, 0)), int(b_loads.get(point_id, 0))
        sa, sb = state(point_id in in_a, la), state(point_id in in_b, lb)
        if sa != sb or la != lb:
            found.append(PointDifference(point_id, sa, sb, la, lb))
    return found


def points_after(rows: Iterable[Mapping[Any, Any]], changes: Iterable[Change]) -> list[dict[str, Any]]:
    """Point rows (the columns of the `point` table) after `changes`: closed ones gone, opened ones added, desks
    set; by point id. What a fork's points are, without loading its scenario."""
    points = {row["point_id"]: dict(row) for row in rows}
    for change in changes:
        if isinstance(change, ClosePoint):
            points.pop(change.point_id, None)
        elif isinstance(change, OpenPoint):
            points[change.point_id] = {
                **dataclasses.asdict(change),
                "community_id": change.community_id or None,
                "compound_id": change.compound_id or None,
            }
        elif isinstance(change, SetDesks) and change.point_id in points:
            points[change.point_id]["desks"] = change.desks
    return [points[p] for p in sorted(points)]


def zones_after(rows: Iterable[tuple[str, str, str]], changes: Iterable[Change]) -> list[tuple[str, str, str]]:
    """(level, scope, target id) zone rows after the `SetZone` changes (each replaces its target's zone, as
    `set_zone` does)."""
    zones = list(rows)
    for change in changes:
        if isinstance(change, SetZone):
            zones = [z for z in zones if (z[1], z[2]) != (change.scope, change.target_id)]
            if change.level != NORMAL:
                zones.append((change.level, change.scope, change.target_id))
    return zones


def added_worker_kinds(changes: Iterable[Change]) -> dict[str, str]:
    """The workers `changes` add (ids as `apply_changes` gives them), with their kind."""
    return {w: c.worker_kind for c in changes if isinstance(c, AddWorkers) for w in c.ids}


def schedule_onto(schedule: Schedule, source: Scenario, target: Scenario) -> Schedule:
    """A schedule over `source`'s rows moved onto `target`'s (the same residents and households; points and
    workers matched by id), to stay close to: visits at points `target` lacks become unserved, duties of
    workers or at points it lacks are dropped."""
    point = _row_map(source.points.ids, target.points.ids)
    worker = _row_map(source.workers.ids, target.workers.ids)
    moved = point[schedule.point]
    gone = (schedule.mode == POINT) & (moved == NO_REF)
    r = schedule.roster
    keep = (worker[r.worker] != NO_REF) & ((r.point == NO_REF) | (point[r.point] != NO_REF))
    roster = Roster(
        worker=worker[r.worker[keep]],
        point=point[r.point[keep]],
        team=r.team[keep],
        role=r.role[keep],
        start=r.start[keep],
        end=r.end[keep],
    )
    return replace(
        schedule,
        mode=np.where(gone, UNSERVED, schedule.mode).astype(schedule.mode.dtype),
        point=moved,
        start=np.where(gone, -1, schedule.start),
        end=np.where(gone, -1, schedule.end),
        roster=roster,
    )


def _row_map(source: Sequence[str], target: Sequence[str]) -> np.ndarray:
    """Per `source` row, the row of the same id in `target` (NO_REF: none); NO_REF maps to NO_REF (last entry)."""
    rows = {x: i for i, x in enumerate(target)}
    return np.array([rows.get(x, NO_REF) for x in source] + [NO_REF], dtype=np.int32)
