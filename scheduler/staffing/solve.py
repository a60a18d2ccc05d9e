"""Staff the points: requirements → home points → one CP-SAT model per point → roster and capacity."""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from scheduler.domain import NO_REF, Scenario, slot_masks
from scheduler.limits import DEFAULT_LIMITS, SolverLimits
from scheduler.schedule import ROLES, ROSTER_DTYPES, Roster, typed_columns
from scheduler.staffing import balance, coverage, duties, preferences, stability
from scheduler.staffing.allocate import allocate, role_need
from scheduler.staffing.capacity import on_duty, staffed_capacity, staffed_desks
from scheduler.staffing.greedy import greedy_duties
from scheduler.staffing.model import PointModel
from scheduler.staffing.pool import POINT_ROLES, Pool, staff_pool
from scheduler.staffing.requirements import requirements
from scheduler.staffing.shortfall import Shortfall, shortfalls
from scheduler.staffing.stability import published_duties
from scheduler.staffing.templates import templates_for

log = logging.getLogger(__name__)

FAMILIES = (coverage, duties, preferences, balance, stability)
# Lexicographic in effect: a desk-slot the point's residents need outweighs everything else.
WEIGHTS: dict[str, int] = {
    "desk_slots_short": 1000,
    "slot_desks_short": 40,
    "changed_duty_slots": 8,
    "duties": 6,
    "slots_beyond_a_shift": 3,
    "kind_mismatch_slots": 2,
    "staff_slots": 1,
}
# Lexicographic stages: first the desks the residents need (and, in a re-solve, the published
# duties), then, with those held, preferences, balance and few long duties. One weighted
# objective over all terms searched several times worse in the same budget.
# Each stage with its share of the budget: coverage decides who is served, the rest is polish.
STAGES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("desk_slots_short", "slot_desks_short", "changed_duty_slots"), 1.0),
    (("kind_mismatch_slots", "slots_beyond_a_shift", "duties", "staff_slots"), 0.5),
)
# CP-SAT's deterministic time per stage: 0.1 s per 1,000 templates, at least 0.05 s, times its share.
DETERMINISTIC_S_PER_TEMPLATE = 1e-4
MIN_DETERMINISTIC_S = 0.05


@dataclass
class Staffing:
    """Point duties and what they let the points sample."""

    roster: Roster  # point duties only
    staff: np.ndarray  # int64 (POINT_ROLES, points, slots): workers on duty for the whole slot
    open_desks: np.ndarray  # int64 (points, slots)
    capacity: np.ndarray  # int64 (points, slots): persons; 0 where the slot cannot open
    need: np.ndarray  # int64 (points, POINT_ROLES, slots): what the residents asked for
    shortfall: list[Shortfall]
    terms: dict[str, int] = field(default_factory=dict)  # objective terms summed over the points
    seconds: float = 0.0

    def kpis(self, scenario: Scenario) -> dict[str, Any]:
        """Requirement coverage per role and hours per kind of worker."""
        wanted = self.need.transpose(1, 0, 2)
        covered = np.minimum(wanted, self.staff)
        coverage_by_role = {
            role: round(float(covered[r].sum() / wanted[r].sum()), 4) if wanted[r].sum() else 1.0
            for r, role in enumerate(POINT_ROLES)
        }
        return {
            "requirement_coverage": coverage_by_role,
            "hours_by_kind": hours_by_kind(scenario, self.roster),
            "objective": self.terms,
            "seconds": round(self.seconds, 3),
        }


def staff_points(
    scenario: Scenario,
    load: np.ndarray,
    *,
    busy: np.ndarray | None = None,
    previous: Roster | None = None,
    limits: SolverLimits = DEFAULT_LIMITS,
) -> Staffing:
    """Duties at the points for `load` residents per (point, slot); `busy` worker-slots are taken (door duties)."""
    began = time.perf_counter()
    st = scenario.settings
    req = requirements(scenario, load)
    open_slots = slot_masks(scenario.points.hours, st)
    pool = staff_pool(scenario, busy, open_slots)
    need = role_need(req.desks, req.order_keepers(st.order_keepers_per_desk), req.used)
    day_slots = int(st.max_day_hours * 60 // st.slot_minutes) * st.round_days
    before = _previous_duties(scenario, previous)
    home = allocate(pool, need, day_slots, _previous_home(scenario, previous))

    points = np.flatnonzero(req.desks.any(axis=1)).tolist()
    work = _PointWork(scenario, pool, home, req.desks, before, limits)
    rows: list[tuple[int, ...]] = []
    terms: dict[str, int] = {}
    for point_rows, values in _map(work, points, limits.processes):
        rows.extend(point_rows)
        for name, value in values.items():
            terms[name] = terms.get(name, 0) + value
    roster = Roster(*typed_columns(rows, ROSTER_DTYPES))
    staff = on_duty(scenario, roster)
    result = Staffing(
        roster=roster,
        staff=staff,
        open_desks=staffed_desks(scenario, staff),
        capacity=staffed_capacity(scenario, staff) * open_slots,
        need=need,
        shortfall=shortfalls(scenario, need, staff),
        terms=terms,
        seconds=time.perf_counter() - began,
    )
    log.info(
        "staffing: %d duties at %d points, %d desk-slots short of %d, %.2f s",
        len(roster),
        int(req.desks.any(axis=1).sum()),
        terms.get("desk_slots_short", 0),
        int(req.desks.sum()),
        result.seconds,
    )
    return result


@dataclass(frozen=True)
class _PointWork:
    """What every point's model reads; shared with forked processes by inheritance, not pickling."""

    scenario: Scenario
    pool: Pool
    home: np.ndarray
    desks: np.ndarray
    before: dict[int, dict[tuple[int, int], np.ndarray]]
    limits: SolverLimits

    def __call__(self, p: int) -> tuple[list[tuple[int, ...]], dict[str, int]]:
        return _solve_point(
            self.scenario, self.pool, p, np.flatnonzero(self.home == p), self.desks[p], self.before, self.limits
        )


_WORK: _PointWork | None = None  # set in the parent before forking


def _work_in_child(p: int) -> tuple[list[tuple[int, ...]], dict[str, int]]:
    assert _WORK is not None
    return _WORK(p)


def _map(
    work: _PointWork, points: list[int], processes: int
) -> Iterable[tuple[list[tuple[int, ...]], dict[str, int]]]:
    """`work` over the points, in their order, in `processes` forked processes when more than one."""
    if processes <= 1 or len(points) < 2 or "fork" not in mp.get_all_start_methods():
        return [work(p) for p in points]
    global _WORK
    _WORK = work
    try:
        with mp.get_context("fork").Pool(processes) as pool:
            return pool.map(_work_in_child, points, chunksize=max(1, len(points) // (8 * processes)))
    finally:
        _WORK = None


def _solve_point(
    scenario: Scenario,
    pool: Pool,
    p: int,
    workers: np.ndarray,
    need: np.ndarray,
    before: dict[int, dict[tuple[int, int], np.ndarray]],
    limits: SolverLimits,
) -> tuple[list[tuple[int, ...]], dict[str, int]]:
    """Duties of the point's home workers: roster rows and the objective terms' values."""
    tp = templates_for(pool.calendar, workers, pool.can[workers], pool.free[workers], pool.open[p])
    pm = PointModel(
        point=p,
        desks=int(scenario.points.desks[p]),
        need=need,
        open_slots=np.flatnonzero(pool.open[p]),
        templates=tp,
        kind=scenario.workers.kind[tp.worker].astype(np.int64),
        skills=pool.can.sum(axis=1)[tp.worker].astype(np.int64),
        calendar=pool.calendar,
        order_per_desk=scenario.settings.order_keepers_per_desk,
        previous=before.get(p) if before else None,
    )
    # Start from the published duties in a re-solve, else from a quick greedy roster; then, stage
    # by stage, CP-SAT searches from the roster so far, within a budget, and the better is kept.
    chosen = published_duties(pm) if pm.previous is not None else greedy_duties(pm)
    values = _terms(pm, chosen)
    named: dict[str, cp_model.LinearExprT] = {}
    for family in FAMILIES:
        named.update(family.build(pm))
    budget = max(MIN_DETERMINISTIC_S, DETERMINISTIC_S_PER_TEMPLATE * len(tp))
    for stage, share in STAGES:
        if any(values.get(name, 0) for name in stage):  # else nothing to gain on this stage's terms
            chosen, values = _improve(pm, named, stage, chosen, values, limits, budget * share)
        # Later stages keep what this one reached.
        for name in stage:
            if name in named:
                pm.model.add(named[name] <= values[name])
    slot_s = scenario.settings.slot_minutes * 60
    role = [ROLES.index(name) for name in POINT_ROLES]
    rows: list[tuple[int, ...]] = [
        (int(tp.worker[i]), p, NO_REF, role[int(tp.role[i])], int(tp.first[i]) * slot_s, int(tp.stop[i]) * slot_s)
        for i in sorted(chosen)
    ]
    return rows, values


def _improve(
    pm: PointModel,
    named: dict[str, cp_model.LinearExprT],
    stage: tuple[str, ...],
    chosen: list[int],
    values: dict[str, int],
    limits: SolverLimits,
    budget: float,
) -> tuple[list[int], dict[str, int]]:
    """CP-SAT from the roster `chosen` on the terms of `stage`; the better of the two rosters."""
    pm.model.minimize(sum(WEIGHTS[name] * named[name] for name in stage if name in named))
    pm.model.clear_hints()
    picked = set(chosen)
    for i, y in enumerate(pm.chosen):
        pm.model.add_hint(y, i in picked)
    found = _run(pm.model, limits, budget)
    if found is not None:
        better = [i for i, y in enumerate(pm.chosen) if found.boolean_value(y)]
        better_values = _terms(pm, better)
        if _cost(better_values, stage) < _cost(values, stage):
            return better, better_values
    return chosen, values


def _terms(pm: PointModel, chosen: list[int]) -> dict[str, int]:
    """Every family's terms for the roster of templates `chosen`, counted as the model counts them."""
    values: dict[str, int] = {}
    for family in FAMILIES:
        values.update(family.evaluate(pm, chosen))
    return values


def _cost(values: dict[str, int], names: tuple[str, ...]) -> int:
    return sum(WEIGHTS[name] * values.get(name, 0) for name in names)


def _run(model: cp_model.CpModel, limits: SolverLimits, budget: float) -> cp_model.CpSolver | None:
    """Solve with a deterministic budget (the wall-clock limit only a guard); None without a solution."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.random_seed = limits.seed
    params.num_workers = 1  # one search thread: the same model and seed give the same roster
    params.max_deterministic_time = budget
    params.max_time_in_seconds = limits.time_limit_s
    status = solver.solve(model)
    return solver if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None


def _previous_home(scenario: Scenario, previous: Roster | None) -> np.ndarray | None:
    """The point each worker first staffed in `previous` (NO_REF: none)."""
    if previous is None:
        return None
    home = np.full(len(scenario.workers), NO_REF, dtype=np.int64)
    rows = np.flatnonzero(previous.point >= 0)
    rows = rows[np.argsort(-previous.start[rows], kind="stable")]  # the earliest row written last wins
    home[previous.worker[rows]] = previous.point[rows]
    return home


def _previous_duties(scenario: Scenario, previous: Roster | None) -> dict[int, dict[tuple[int, int], np.ndarray]]:
    """Per point, (worker, POINT_ROLES index) → bool per slot on duty in `previous`."""
    if previous is None:
        return {}
    st = scenario.settings
    slot_s = st.slot_minutes * 60
    out: dict[int, dict[tuple[int, int], np.ndarray]] = {}
    for w, p, role, start, end in zip(
        previous.worker.tolist(), previous.point.tolist(), previous.role.tolist(),
        previous.start.tolist(), previous.end.tolist(), strict=True,
    ):
        name = ROLES[role]
        if p < 0 or name not in POINT_ROLES:
            continue
        mask = out.setdefault(p, {}).setdefault((w, POINT_ROLES.index(name)), np.zeros(st.n_slots, dtype=bool))
        mask[max(0, -(-start // slot_s)) : max(0, min(st.n_slots, end // slot_s))] = True
    return out


def hours_by_kind(scenario: Scenario, roster: Roster) -> dict[str, dict[str, float | int]]:
    """Per kind of worker: how many worked, and the least, mean and most hours of those who did."""
    from scheduler.domain import KINDS

    hours = np.zeros(len(scenario.workers))
    np.add.at(hours, roster.worker, (roster.end - roster.start) / 3600)
    out: dict[str, dict[str, float | int]] = {}
    for k, kind in enumerate(KINDS):
        mine = scenario.workers.kind == k
        if not mine.any():
            continue
        worked = hours[mine & (hours > 0)]
        out[kind] = {
            "workers": int(mine.sum()),
            "on_duty": len(worked),
            "min_hours": round(float(worked.min()), 2) if len(worked) else 0.0,
            "mean_hours": round(float(worked.mean()), 2) if len(worked) else 0.0,
            "max_hours": round(float(worked.max()), 2) if len(worked) else 0.0,
        }
    return out
