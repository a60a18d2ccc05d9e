"""The flow model the assignment is solved on, built from named arc families.

Nodes: one per demand class (households of one building with the same needs), one per
sampling point, and one sink. Each constraint family contributes arcs whose unit costs
are split into named components, so a solved model can say what each rule cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ArcSet:
    """Arcs of one family: tail → head with capacity, and per-unit costs by term name."""

    family: str
    tail: np.ndarray  # int64 node
    head: np.ndarray  # int64 node
    capacity: np.ndarray  # int64 persons
    costs: dict[str, np.ndarray] = field(default_factory=dict)  # term → int64 cost per person

    def total_cost(self) -> np.ndarray:
        total = np.zeros(len(self.tail), dtype=np.int64)
        for cost in self.costs.values():
            total += cost
        return total


@dataclass
class FlowModel:
    n_nodes: int
    supply: np.ndarray  # int64 per node: persons at class nodes, minus all of them at the sink
    arc_sets: list[ArcSet]


@dataclass
class FlowResult:
    flows: dict[str, np.ndarray]  # family → flow per arc
    terms: dict[str, int]  # term → total cost (persons × unit cost)


class FlowInfeasible(RuntimeError):
    """The min-cost flow solver found no optimum (a modelling error: the sink arcs keep it feasible)."""


def solve_flow(model: FlowModel) -> FlowResult:
    """Solve the model with OR-Tools' min-cost flow; deterministic for the same model."""
    from ortools.graph.python import min_cost_flow

    solver = min_cost_flow.SimpleMinCostFlow()
    handles = []
    for arcs in model.arc_sets:
        if len(arcs.tail):
            handles.append(
                solver.add_arcs_with_capacity_and_unit_cost(arcs.tail, arcs.head, arcs.capacity, arcs.total_cost())
            )
        else:
            handles.append(np.zeros(0, dtype=np.int64))
    nodes = np.flatnonzero(model.supply)
    solver.set_nodes_supplies(nodes, model.supply[nodes])
    status = solver.solve()
    if status != solver.OPTIMAL:
        raise FlowInfeasible(f"min-cost flow ended with status {status}")
    flows: dict[str, np.ndarray] = {}
    terms: dict[str, int] = {}
    for arcs, handle in zip(model.arc_sets, handles, strict=True):
        flow = solver.flows(handle) if len(handle) else np.zeros(0, dtype=np.int64)
        flows[arcs.family] = flow
        for term, cost in arcs.costs.items():
            terms[term] = terms.get(term, 0) + int(np.dot(flow, cost))
    return FlowResult(flows=flows, terms=terms)
