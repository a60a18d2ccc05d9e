"""Everyone is covered (rule 1): each demand node is served in full, by the sites it may use.

Nodes no candidate may serve never reach the model: the scenario builder reports them.
"""

from __future__ import annotations

from ortools.math_opt.python import mathopt

from scheduler.siting.model import SitingModel, grouped


def build(m: SitingModel) -> dict[str, mathopt.LinearExpression]:
    for _node, rows in grouped(m.pair_node()):
        m.model.add_linear_constraint(mathopt.fast_sum(m.serve[k] for k in rows.tolist()) == 1)
    return {}
