"""The reduced MIP, solved with HiGHS through OR-Tools' math_opt, started from the best known solution.

HiGHS, not SCIP or CP-SAT: on the pmedcap instances it proved optima fastest of the three
bundled MIP solvers, and through math_opt it reports its dual bound when a limit stops it.
Pseudocosts are trusted from the first branching (`mip_pscost_minreliable` 0): strong
branching took most of the LP work on the hard instances, and about a quarter of their time.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

import numpy as np
from ortools.math_opt.python import mathopt
from ortools.math_opt.solvers import highs_pb2

from scheduler.limits import SolverLimits
from scheduler.siting import capacity, coverage, opening, walking
from scheduler.siting.assign import Assignment
from scheduler.siting.lagrange import Fixing
from scheduler.siting.model import SitingModel
from scheduler.siting.problem import SitingProblem


@dataclass(frozen=True)
class MipOutcome:
    open: np.ndarray | None  # bool per site of the best solution found, None when none
    served: np.ndarray | None  # float share per problem pair of that solution
    dual_bound: float  # proven lower bound on the reduced problem's objective
    infeasible: bool
    optimal: bool
    terms: dict[str, float]


def solve_mip(
    problem: SitingProblem,
    fixing: Fixing,
    *,
    max_open: int | None,
    start: Assignment | None,
    limits: SolverLimits,
    time_limit_s: float,
    relative_gap: float,
) -> MipOutcome:
    """`max_open` set: least walking with at most that many sites; None: fewest sites."""
    pairs = np.flatnonzero(fixing.pair_kept)
    m = SitingModel.create(problem, pairs, fixing.site_open)
    m.add_terms(coverage.build(m))
    m.add_terms(capacity.build(m))
    if max_open is None:
        m.add_terms(opening.fewest(m))
    else:
        m.add_terms(opening.at_most(m, max_open))
        m.add_terms(walking.build(m))
    m.model.minimize(m.objective())

    hints = []
    if start is not None:
        share = start.served[pairs] / np.maximum(problem.demand[problem.pair_node[pairs]], 1)
        values: dict[mathopt.Variable, float] = {v: float(s) for v, s in zip(m.serve, share.tolist(), strict=True)}
        for s, var in m.open.items():
            if isinstance(var, mathopt.Variable):
                values[var] = float(start.open[s])
        hints.append(mathopt.SolutionHint(variable_values=values))
    params = mathopt.SolveParameters(
        time_limit=datetime.timedelta(seconds=max(time_limit_s, 0.1)),
        random_seed=limits.seed,
        relative_gap_tolerance=relative_gap,
        absolute_gap_tolerance=0.999,  # every objective here is a whole number
        highs=highs_pb2.HighsOptionsProto(int_options={"threads": limits.workers, "mip_pscost_minreliable": 0}),
    )
    result = mathopt.solve(
        m.model,
        mathopt.SolverType.HIGHS,
        params=params,
        model_params=mathopt.ModelSolveParameters(solution_hints=hints),
    )
    reason = result.termination.reason
    infeasible = reason == mathopt.TerminationReason.INFEASIBLE
    dual = result.termination.objective_bounds.dual_bound
    if not result.has_primal_feasible_solution():
        return MipOutcome(None, None, dual if math.isfinite(dual) else -math.inf, infeasible, False, {})
    is_open = np.zeros(problem.n_sites, dtype=bool)
    for s, var in m.open.items():
        is_open[s] = var == 1.0 if isinstance(var, float) else result.variable_values(var) > 0.5
    served = np.zeros(problem.n_pairs)
    served[pairs] = np.array(result.variable_values(m.serve))
    terms = {name: float(mathopt.evaluate_expression(expr, result.variable_values())) for name, expr in m.terms.items()}
    return MipOutcome(
        open=is_open,
        served=served,
        dual_bound=dual,
        infeasible=False,
        optimal=reason == mathopt.TerminationReason.OPTIMAL,
        terms=terms,
    )
