"""Tabu search over swaps of open sites, each open set priced by its exact whole-node assignment.

Where nodes go whole to one site (pmedcap customers) the split flow misjudges open sets:
the swap it ranks first often costs more once every node is whole, and the best sets
are often two swaps from a start, across a plateau. Here each move closes one open site
and opens one of the `TARGETS` closed sites cheapest for its customers, priced by
`assign` (the exact generalized assignment); the cheapest move is made even when it
costs more than the current set, and a site just closed may not reopen for `TENURE`
moves unless that beats the best set found. The search stops after `PATIENCE` moves
without a new best, `MOVES` moves in all, or its share of the time (a backstop: a
loaded machine may stop it sooner). No random choice: ties go to the lowest sites,
and `assign` runs to a deterministic limit.
"""

from __future__ import annotations

import time

import numpy as np

from scheduler.limits import SolverLimits
from scheduler.siting.assign import Assignment, assign
from scheduler.siting.heuristic import cluster_costs
from scheduler.siting.problem import SitingProblem

TARGETS = 4  # closed sites tried in place of each open one: the cheapest for its customers
TENURE = 3  # moves a closed site stays closed, unless reopening it beats the best set
PATIENCE = 4  # moves without a new best before the search stops
MOVES = 40


def tabu_swaps(problem: SitingProblem, start: Assignment, limits: SolverLimits, time_limit_s: float) -> Assignment:
    """The cheapest assignment met on a tabu walk of single swaps from `start` (`start` itself if none is cheaper)."""
    began = time.perf_counter()
    priced: dict[bytes, Assignment | None] = {}
    best = current = start
    closed_until: dict[int, int] = {}
    idle = 0
    for move in range(MOVES):
        if idle >= PATIENCE or time.perf_counter() - began > time_limit_s:
            break
        chosen: tuple[int, int, int, Assignment] | None = None
        for s in current.open_sites().tolist():
            cost = np.where(current.open, np.inf, cluster_costs(problem, s, current.served, 0))
            for t in np.argsort(cost, kind="stable")[:TARGETS].tolist():
                if not np.isfinite(cost[t]):
                    break
                trial = current.open.copy()
                trial[s], trial[t] = False, True
                key = trial.tobytes()
                if key not in priced:
                    priced[key] = assign(problem, trial, limits)
                found = priced[key]
                if found is None or (closed_until.get(t, -1) >= move and found.cost >= best.cost):
                    continue
                if chosen is None or (found.cost, s, t) < chosen[:3]:
                    chosen = (found.cost, s, t, found)
        if chosen is None:
            break
        _, closed, _, current = chosen
        closed_until[closed] = move + TENURE
        if current.cost < best.cost:
            best, idle = current, 0
        else:
            idle += 1
    return best
