"""Capacity (rule 6 summed over the round): an open site serves at most its capacity; a shut one nobody.

Both the aggregate row (demand served ≤ capacity × open) and one row per pair
(share ≤ open) are added: the second makes the LP relaxation far tighter.
"""

from __future__ import annotations

from ortools.math_opt.python import mathopt

from scheduler.siting.model import SitingModel, grouped


def build(m: SitingModel) -> dict[str, mathopt.LinearExpression]:
    demand = m.problem.demand[m.pair_node()].tolist()
    for site, rows in grouped(m.pair_site()):
        is_open = m.open[site]
        served = mathopt.fast_sum(demand[k] * m.serve[k] for k in rows.tolist())
        m.model.add_linear_constraint(served <= int(m.problem.capacity[site]) * is_open)
        if not isinstance(is_open, float):
            for k in rows.tolist():
                m.model.add_linear_constraint(m.serve[k] <= is_open)
    return {}
