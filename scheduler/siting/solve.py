"""Which candidate sites to open: at most K with the least walking, or the fewest that serve everyone.

The pipeline, for either question:
1. Lagrangean relaxation of coverage (`lagrange`): a proven lower bound within a second
   or two, and open sets that `heuristic` turns into a starting solution (upper bound),
   which `swaps` improves by a tabu search where nodes go whole to one site.
2. Reduced-cost fixing: sites and pairs that cannot be in any solution better than the
   start are dropped; on most instances most are.
3. The reduced MIP (`mip`, HiGHS through math_opt), started from the best solution so far,
   unless the bounds already meet.
The result carries the proven bound (the best of the Lagrangean bound and the MIP's) and
the gap. Every objective here is a whole number, so a bound above U − 1 proves U optimal.
Same problem, seed and limits: same answer, unless the time limit cuts the MIP short.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scheduler.limits import SolverLimits
from scheduler.siting.assign import Assignment, assign, cost_of, transport
from scheduler.siting.heuristic import SWAP_PAIRS_MAX, best_start, greedy_cover, thinned
from scheduler.siting.lagrange import Fixing, Objective, Relaxation, Relaxed, lagrangean_dual, reduced_cost_fixing
from scheduler.siting.mip import solve_mip
from scheduler.siting.problem import SitingProblem
from scheduler.siting.swaps import tabu_swaps

log = logging.getLogger(__name__)

FIRST_ITERATIONS = 300  # subgradient steps before any upper bound is known
MORE_ITERATIONS = 300  # steps toward the upper bound once one is
OPEN_SETS_TRIED = 8  # the relaxation's open sets turned into starting solutions
ASSIGN_SHARE = 0.05  # of the time limit, for each whole-node assignment of a starting set
COUNT_SHARE = 0.4  # of the time limit, for the count stage of the fewest-points question
TABU_SHARE = 0.2  # of the time limit, at most, for the tabu search on swaps (whole-node problems)
SWAP_SLACK = 0.005  # the tabu search sees the pairs of solutions up to this share above the start


class SitingInfeasible(ValueError):
    """No choice of sites serves everyone as asked; the message says why."""


@dataclass(frozen=True)
class SitingResult:
    question: str  # "open_at_most" or "fewest"
    assignment: Assignment
    objective: int  # walking (open_at_most) or sites opened (fewest)
    bound: int  # proven lower bound on the objective
    terms: dict[str, int]  # named objective terms: walk, points_opened
    walk_bound: int  # proven lower bound on walking with at most this many sites
    seconds: float
    stages: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return (self.objective - self.bound) / self.objective if self.objective else 0.0

    @property
    def optimal(self) -> bool:
        return self.bound >= self.objective

    @property
    def walk_gap(self) -> float:
        walk = self.terms["walk"]
        return (walk - self.walk_bound) / walk if walk else 0.0


def _check_reachable(problem: SitingProblem) -> None:
    stranded = np.flatnonzero(~problem.reachable())
    if len(stranded):
        names = ", ".join(problem.node_names[i] for i in stranded[:5].tolist())
        raise SitingInfeasible(f"{len(stranded)} demand node(s) no candidate may serve: {names}")


def _check_capacity(problem: SitingProblem, max_open: int, question: str) -> None:
    largest = np.sort(problem.capacity)[::-1]
    demand = int(problem.demand.sum())
    held = int(largest[:max_open].sum())
    if held < demand:
        needed = int(np.searchsorted(np.cumsum(largest), demand) + 1)
        more = f"; at least {needed} sites are needed" if needed <= len(largest) else ""
        raise SitingInfeasible(
            f"{question}: the {min(max_open, len(largest))} largest candidates hold {held:,} "
            f"but demand is {demand:,}{more}"
        )


def _ceil(value: float) -> int:
    return math.ceil(value - 1e-9 * max(1.0, abs(value)))


@dataclass(frozen=True)
class _Solved:
    best: Assignment | None
    bound: int  # proven lower bound on the objective
    infeasible: bool
    stages: dict[str, Any]


def _value(assignment: Assignment, objective: Objective) -> int:
    return int(assignment.open.sum()) if objective.site_cost.any() else assignment.cost


def _optimise(
    problem: SitingProblem,
    objective: Objective,
    limits: SolverLimits,
    start: Assignment | None,
    relative_gap: float,
) -> _Solved:
    """Bound, start, fix, and (unless the bounds already meet) solve the reduced MIP."""
    began = time.perf_counter()
    fewest_sites = objective.max_open >= problem.n_sites
    relaxation = Relaxation(problem, objective)
    first = lagrangean_dual(relaxation, upper_bound=None, iterations=FIRST_ITERATIONS, keep_open_sets=OPEN_SETS_TRIED)
    assign_limits = SolverLimits(seed=limits.seed, time_limit_s=ASSIGN_SHARE * limits.time_limit_s, workers=1)
    open_sets = [*first.open_sets, *([start.open] if start is not None else [])]
    found = best_start(problem, open_sets, assign_limits, None if fewest_sites else objective.max_open)
    if found is not None and (start is None or _value(found, objective) < _value(start, objective)):
        start = found
    upper = None if start is None else float(_value(start, objective))
    second = lagrangean_dual(
        relaxation,
        upper_bound=upper,
        iterations=MORE_ITERATIONS,
        multipliers=first.best.multipliers,
        enough=np.inf if upper is None else upper - 1 + 1e-6,
    )
    relaxed = second.best if second.best.bound >= first.best.bound else first.best
    stages: dict[str, Any] = {
        "lagrangean_bound": round(relaxed.bound, 3),
        "lagrangean_iterations": first.iterations + second.iterations,
        "exact_knapsacks": relaxation.exact,
        "start": upper,
    }
    if start is not None and upper is not None and _ceil(relaxed.bound) < upper and not fewest_sites:
        start = _swapped(relaxation, relaxed, start, assign_limits, TABU_SHARE * limits.time_limit_s, stages)
        upper = float(_value(start, objective))
    if start is not None and _ceil(relaxed.bound) >= _value(start, objective):
        stages.update(bound_seconds=round(time.perf_counter() - began, 2), mip="not needed: the bounds meet")
        return _Solved(start, _value(start, objective), False, stages)
    if upper is not None:
        fixing = reduced_cost_fixing(relaxation, relaxed, upper)
    else:
        none = np.zeros(problem.n_sites, dtype=bool)
        fixing = Fixing(site_closed=none, site_open=none, pair_kept=np.ones(problem.n_pairs, dtype=bool))
    stages.update(
        sites_closed_by_bound=int(fixing.site_closed.sum()),
        sites_open_by_bound=int(fixing.site_open.sum()),
        pairs_kept=int(fixing.pair_kept.sum()),
        pairs=problem.n_pairs,
        bound_seconds=round(time.perf_counter() - began, 2),
    )
    log.info("siting bounds: %s", stages)
    outcome = solve_mip(
        problem,
        fixing,
        max_open=None if fewest_sites else objective.max_open,
        start=start,
        limits=limits,
        time_limit_s=limits.time_limit_s - (time.perf_counter() - began),
        relative_gap=relative_gap,
    )
    best = start
    if outcome.open is not None:
        settled = _settle(problem, outcome.open, outcome.served)
        if settled is not None and (best is None or _value(settled, objective) < _value(best, objective)):
            best = settled
    # Every solution better than the start survived the fixing, so the reduced MIP's bound holds
    # for all of them; the start itself bounds the rest.
    reduced = outcome.dual_bound if upper is None else min(outcome.dual_bound, upper)
    bound = _ceil(max(relaxed.bound, reduced))
    if best is not None:
        bound = min(bound, _value(best, objective))
    stages.update(mip_optimal=outcome.optimal, mip_bound=round(outcome.dual_bound, 3))
    return _Solved(best, bound, outcome.infeasible and best is None, stages)


def _swapped(
    relaxation: Relaxation,
    relaxed: Relaxed,
    start: Assignment,
    limits: SolverLimits,
    time_limit_s: float,
    stages: dict[str, Any],
) -> Assignment:
    """`start` improved by the tabu search on swaps, where nodes go whole and the problem is small.

    The search sees only the pairs the bound keeps for solutions up to `SWAP_SLACK` above the
    start: every open set it may move to is priced exactly, and its assignments are far smaller.
    """
    problem = relaxation.problem
    if not problem.single_source or problem.n_pairs > SWAP_PAIRS_MAX:
        return start
    began = time.perf_counter()
    slack = max(1.0, SWAP_SLACK * start.cost)
    kept = reduced_cost_fixing(relaxation, relaxed, start.cost + slack).pair_kept
    if (start.served[~kept] > 0).any():
        kept = np.ones(problem.n_pairs, dtype=bool)  # rounding at the margin dropped a pair of the start: keep all
    reduced = problem.restricted(kept)
    found = tabu_swaps(reduced, Assignment(start.open, start.served[kept], start.cost), limits, time_limit_s)
    stages.update(
        swaps_start=start.cost,
        swaps_found=found.cost,
        swaps_pairs=int(kept.sum()),
        swaps_seconds=round(time.perf_counter() - began, 2),
    )
    if found.cost >= start.cost:
        return start
    served = np.zeros(problem.n_pairs, dtype=np.int64)
    served[kept] = found.served
    return Assignment(open=found.open, served=served, cost=cost_of(problem, served))


def _settle(problem: SitingProblem, is_open: np.ndarray, share: np.ndarray | None) -> Assignment | None:
    """The MIP's answer in whole units: its whole nodes as they are, split demand re-flowed exactly."""
    if problem.single_source and share is not None:
        served = np.where(share > 0.5, problem.demand[problem.pair_node], 0).astype(np.int64)
    else:
        served, unserved = transport(problem, is_open)
        if unserved:
            return None
    return Assignment(open=is_open, served=served, cost=cost_of(problem, served))


def open_at_most(
    problem: SitingProblem,
    max_open: int,
    limits: SolverLimits,
    *,
    relative_gap: float = 0.0,
    start: Assignment | None = None,
) -> SitingResult:
    """At most `max_open` sites, everyone served within capacity, least total cost (walking)."""
    began = time.perf_counter()
    question = f"open at most {max_open}"
    _check_reachable(problem)
    _check_capacity(problem, max_open, question)
    objective = Objective(
        pair_cost=problem.pair_cost.astype(np.float64), site_cost=np.zeros(problem.n_sites), max_open=max_open
    )
    solved = _optimise(problem, objective, limits, start, relative_gap)
    if solved.best is None:
        why = (
            "no choice of sites serves everyone within reach and capacity"
            if solved.infeasible
            else (f"no solution found within {limits.time_limit_s:g} s (none may exist)")
        )
        raise SitingInfeasible(f"{question}: {why}")
    best = solved.best
    return SitingResult(
        question="open_at_most",
        assignment=best,
        objective=best.cost,
        bound=solved.bound,
        terms={"walk": best.cost, "points_opened": int(best.open.sum())},
        walk_bound=solved.bound,
        seconds=time.perf_counter() - began,
        stages=solved.stages,
    )


def fewest(problem: SitingProblem, limits: SolverLimits, *, relative_gap: float = 0.0) -> SitingResult:
    """The fewest sites that serve everyone within reach and capacity; then the least walking with that many."""
    began = time.perf_counter()
    _check_reachable(problem)
    _check_capacity(problem, problem.n_sites, "fewest points")
    count_limits = SolverLimits(
        seed=limits.seed, time_limit_s=COUNT_SHARE * limits.time_limit_s, workers=limits.workers
    )
    objective = Objective(
        pair_cost=np.zeros(problem.n_pairs), site_cost=np.ones(problem.n_sites), max_open=problem.n_sites
    )
    cover = greedy_cover(problem)
    start = None if cover is None else assign(problem, thinned(problem, cover), count_limits)
    counted = _optimise(problem, objective, count_limits, start, 0.0)
    if counted.best is None:
        raise SitingInfeasible("fewest points: no choice of candidate sites serves everyone within reach and capacity")
    sites = int(counted.best.open.sum())
    walk_limits = SolverLimits(
        seed=limits.seed,
        time_limit_s=max(limits.time_limit_s - (time.perf_counter() - began), 1.0),
        workers=limits.workers,
    )
    walked = open_at_most(problem, sites, walk_limits, relative_gap=relative_gap, start=counted.best)
    return SitingResult(
        question="fewest",
        assignment=walked.assignment,
        objective=int(walked.assignment.open.sum()),
        bound=counted.bound,
        terms=walked.terms,
        walk_bound=walked.walk_bound,
        seconds=time.perf_counter() - began,
        stages={"count": counted.stages, "walk": walked.stages},
    )
