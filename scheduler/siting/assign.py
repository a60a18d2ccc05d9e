"""The best assignment to a fixed set of open sites.

Split demand: a min-cost flow (the assignment solver's own `scheduler.assign.model`),
exact. Whole demand (pmedcap customers): a generalized assignment problem, solved with
CP-SAT from the flow's answer (each node to the site that took most of it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from scheduler.assign.model import ArcSet, FlowModel, solve_flow
from scheduler.limits import SolverLimits
from scheduler.siting.model import grouped
from scheduler.siting.problem import SitingProblem

UNSERVED_COST = 1 << 40  # per unit of demand: above any walk, so the flow serves all it can
WALL_CLOCK_BACKSTOP = 4  # the wall-clock limit, in multiples of the deterministic one


@dataclass(frozen=True)
class Assignment:
    """Open sites and the demand units each pair carries."""

    open: np.ndarray  # bool per site
    served: np.ndarray  # int64 units per pair of the problem
    cost: int

    def open_sites(self) -> np.ndarray:
        return np.flatnonzero(self.open)


def cost_of(problem: SitingProblem, served: np.ndarray) -> int:
    """Σ pair cost × share of the node served there: whole numbers for split problems and whole nodes."""
    return int((problem.pair_cost * served // np.maximum(problem.demand[problem.pair_node], 1)).sum())


def relaxed_cost(problem: SitingProblem, served: np.ndarray) -> float:
    """The same sum for any split of demand (fractions where whole nodes are split)."""
    return float((problem.pair_cost * served / np.maximum(problem.demand[problem.pair_node], 1)).sum())


WHOLE_NODE_SCALE = 1000  # unit costs of whole-node problems, scaled so the split relaxation stays in integers


def transport(problem: SitingProblem, open_sites: np.ndarray) -> tuple[np.ndarray, int]:
    """Units per pair of the cheapest split assignment to `open_sites`, and the units left unserved.

    Exact for split problems; for whole-node problems it is the split relaxation (costs per
    unit rounded at 1/1000), a guide to which sites to open.
    """
    n = problem.n_nodes
    usable = np.flatnonzero(open_sites[problem.pair_site])
    demand = problem.demand
    sink = n + problem.n_sites
    supply = np.zeros(sink + 1, dtype=np.int64)
    supply[:n] = demand
    supply[sink] = -int(demand.sum())
    scale = WHOLE_NODE_SCALE if problem.single_source else 1
    unit_cost = problem.pair_cost[usable] * scale // np.maximum(demand[problem.pair_node[usable]], 1)
    serve = ArcSet(
        family="serve",
        tail=problem.pair_node[usable],
        head=n + problem.pair_site[usable],
        capacity=demand[problem.pair_node[usable]],
        costs={"walk": unit_cost},
    )
    sites = np.flatnonzero(open_sites)
    capacity = ArcSet(
        family="capacity",
        tail=n + sites.astype(np.int64),
        head=np.full(len(sites), sink, dtype=np.int64),
        capacity=problem.capacity[sites],
    )
    unserved = ArcSet(
        family="unserved",
        tail=np.arange(n, dtype=np.int64),
        head=np.full(n, sink, dtype=np.int64),
        capacity=demand.copy(),
        costs={"unserved": np.full(n, UNSERVED_COST, dtype=np.int64)},
    )
    result = solve_flow(FlowModel(n_nodes=sink + 1, supply=supply, arc_sets=[serve, capacity, unserved]))
    served = np.zeros(problem.n_pairs, dtype=np.int64)
    served[usable] = result.flows["serve"]
    return served, int(result.flows["unserved"].sum())


def whole(problem: SitingProblem, open_sites: np.ndarray, hint: np.ndarray, limits: SolverLimits) -> np.ndarray | None:
    """Units per pair with every node whole at one open site (CP-SAT), or None if none was found.

    One worker and a deterministic time limit (the wall-clock one is only a backstop), so the
    same open sites always get the same assignment.
    """
    usable = np.flatnonzero(
        open_sites[problem.pair_site] & (problem.demand[problem.pair_node] <= problem.capacity[problem.pair_site])
    )
    node, site = problem.pair_node[usable], problem.pair_site[usable]
    if len(np.unique(node)) < problem.n_nodes:
        return None
    model = cp_model.CpModel()
    chosen = [model.new_bool_var(f"x{k}") for k in usable.tolist()]
    for _, rows in grouped(node):
        model.add_exactly_one(chosen[r] for r in rows.tolist())
    weight = problem.demand[node].tolist()
    for s, rows in grouped(site):
        model.add(sum(weight[r] * chosen[r] for r in rows.tolist()) <= int(problem.capacity[s]))
    cost = problem.pair_cost[usable].tolist()
    model.minimize(sum(c * x for c, x in zip(cost, chosen, strict=True)))
    for x, hinted in zip(chosen, hint[usable].tolist(), strict=True):
        model.add_hint(x, hinted)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = limits.seed
    solver.parameters.max_deterministic_time = limits.time_limit_s
    solver.parameters.max_time_in_seconds = WALL_CLOCK_BACKSTOP * limits.time_limit_s
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    served = np.zeros(problem.n_pairs, dtype=np.int64)
    picked = np.array([solver.boolean_value(x) for x in chosen], dtype=bool)
    served[usable[picked]] = problem.demand[node[picked]]
    return served


def largest_share(problem: SitingProblem, served: np.ndarray) -> np.ndarray:
    """Bool per pair: the pair that carries most of its node (the first such), a whole-node hint."""
    share = served / np.maximum(problem.demand[problem.pair_node], 1)
    order = np.lexsort((np.arange(problem.n_pairs), -share, problem.pair_node))
    first = np.r_[True, problem.pair_node[order][1:] != problem.pair_node[order][:-1]]
    pick = np.zeros(problem.n_pairs, dtype=bool)
    pick[order[first]] = True
    return pick


def assign(problem: SitingProblem, open_sites: np.ndarray, limits: SolverLimits) -> Assignment | None:
    """The best assignment to `open_sites` (a bool mask), or None when they cannot serve everyone."""
    served, unserved = transport(problem, open_sites)
    if unserved:
        return None
    if problem.single_source:
        whole_served = whole(problem, open_sites, largest_share(problem, served), limits)
        if whole_served is None:
            return None
        served = whole_served
    return Assignment(open=open_sites.copy(), served=served, cost=cost_of(problem, served))
