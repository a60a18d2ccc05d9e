"""Walking: each pair costs its node's whole demand times the distance (person-metres), pro rata."""

from __future__ import annotations

from ortools.math_opt.python import mathopt

from scheduler.siting.model import SitingModel


def build(m: SitingModel) -> dict[str, mathopt.LinearExpression]:
    cost = m.problem.pair_cost[m.pairs].tolist()
    return {"walk": mathopt.fast_sum(c * m.serve[k] for k, c in enumerate(cost))}
