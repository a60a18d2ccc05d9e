"""Which sites open: at most K of them, or as few as possible (the `points_opened` term)."""

from __future__ import annotations

from ortools.math_opt.python import mathopt

from scheduler.siting.model import SitingModel


def opened(m: SitingModel) -> mathopt.LinearExpression:
    return mathopt.fast_sum(m.open.values())


def at_most(m: SitingModel, max_open: int) -> dict[str, mathopt.LinearExpression]:
    m.model.add_linear_constraint(opened(m) <= max_open)
    return {}


def fewest(m: SitingModel) -> dict[str, mathopt.LinearExpression]:
    return {"points_opened": opened(m)}
