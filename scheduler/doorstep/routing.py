"""OR-Tools routing for door visits: a walking tour of buildings, and stops onto team duties.

`route_stops` model (`pywrapcp.RoutingModel`), times in whole seconds since the round opens:

- node 0 is a dummy depot: arcs from and to it cost nothing, so a route starts at its
  first door (ruling 7) and ends at its last one;
- a stop (a run of households of one building) has a transit of its service time
  (households × `doorstep_minutes_per_household`) plus the walk to the next stop's
  building (nothing within one building);
- a team that has already worked (an earlier tier) starts from a node standing for the
  building where it stopped, at the time it stopped;
- time dimension `time`: waiting allowed, each vehicle inside its duty window;
- an "anchor" vehicle fixed at time 0 with one mandatory zero-length node keeps the
  dimension's global span measured from the round's start (OR-Tools counts only the
  vehicles in use), so the global span is the time the last visit of this solve ends;
- objective: that completion, weighted to outweigh a second on every route, plus with
  the same weight each route's end past `target` (the global span alone is flat: moving
  work off one of several equally late teams changes nothing, so the search needs this
  slope); then the sum of route spans (team time); then walking (arc costs). A dropped
  stop costs more than any route could save, per household.

Search: the first solution is given (`initial`, from the split of the tour) when there is
one, else built by the first-solution strategy; then guided local search, for a number of
steps scaled to the size and by `SolverLimits.route_search` (a zone change's re-solve takes
a tenth: on the benchmark's community its completion and team-hours are the same, and a
share of 0 stops after the descent). Each search stops at a *solution limit*, which is
deterministic (the same input replays the same search), with the `SolverLimits` time
limit only as a safety net; `time_limited` says when the clock stopped it instead (only
then could a rerun differ).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from scheduler.limits import SolverLimits

DEPOT = 0
# Guided local search steps after the descent: each step scans the neighbourhood (about
# 7 n² moves for n stops), so their number shrinks with the problem to keep a solve short.
NEIGHBOUR_BUDGET = 600_000
MIN_STEPS, MAX_STEPS = 2, 100
FIRST_SOLUTION = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
METAHEURISTIC = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH


@dataclass(frozen=True)
class Vehicle:
    """One team duty as the router sees it."""

    ready: int  # seconds: when the team can be at its first door of this solve
    end: int  # seconds: end of its duty
    at: int  # index into the walking matrix where it stands, or -1 before its first door


@dataclass
class Routed:
    routes: list[list[int]]  # stop indices per vehicle, in visit order
    dropped: list[int]  # stops no vehicle performs
    seconds: float
    time_limited: bool


def gls_steps(n_nodes: int, share: float = 1.0) -> int:
    """Guided-local-search solutions allowed after the descent, for a model of `n_nodes` nodes, times `share`."""
    return int(min(MAX_STEPS, max(MIN_STEPS, NEIGHBOUR_BUDGET // max(1, 7 * n_nodes * n_nodes))) * share)


def _search(
    model: pywrapcp.RoutingModel,
    limits: SolverLimits,
    first: int,
    start: pywrapcp.Assignment | None,
    steps: int,
) -> tuple[pywrapcp.Assignment | None, bool]:
    """Descend to a local optimum, then `steps` solutions of guided local search (none: 0); (best, clock stopped it).

    Both stages end on their own (a local optimum, a solution limit), so they replay
    exactly; the time limit only guards against a run-away search.
    """
    stage_ms = max(1, int(limits.time_limit_s * 500))  # half the time limit for each stage
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = first
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    params.time_limit.FromMilliseconds(stage_ms)
    began = time.perf_counter()
    if start is not None:
        solution = model.SolveFromAssignmentWithParameters(start, params)
    else:
        solution = model.SolveWithParameters(params)
    limited = (time.perf_counter() - began) * 1000 >= 0.95 * stage_ms
    if solution is None or steps <= 0:
        return solution, limited
    params.local_search_metaheuristic = METAHEURISTIC
    params.solution_limit = steps + 1  # the starting solution counts as the first
    began = time.perf_counter()
    improved = model.SolveFromAssignmentWithParameters(solution, params)
    limited |= (time.perf_counter() - began) * 1000 >= 0.95 * stage_ms
    if improved is not None and improved.ObjectiveValue() <= solution.ObjectiveValue():
        solution = improved
    return solution, limited


def open_tour(walk: np.ndarray, limits: SolverLimits) -> tuple[list[int], bool]:
    """An order of all places (rows of `walk`) with little walking, starting and ending anywhere.

    Returns the order and whether the time limit stopped the search.
    """
    n = len(walk)
    if n <= 2:
        return list(range(n)), False
    arc = np.zeros((n + 1, n + 1), dtype=np.int64)
    arc[1:, 1:] = walk
    manager = pywrapcp.RoutingIndexManager(n + 1, 1, DEPOT)
    model = pywrapcp.RoutingModel(manager)
    model.SetArcCostEvaluatorOfAllVehicles(model.RegisterTransitMatrix(arc.tolist()))
    solution, limited = _search(
        model,
        limits,
        routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC,
        None,
        gls_steps(n + 1, limits.route_search),
    )
    if solution is None:
        return list(range(n)), limited
    order: list[int] = []
    index = solution.Value(model.NextVar(model.Start(0)))
    while not model.IsEnd(index):
        order.append(manager.IndexToNode(index) - 1)
        index = solution.Value(model.NextVar(index))
    return order, limited


def route_stops(
    place: np.ndarray,
    service: np.ndarray,
    households: np.ndarray,
    walk: np.ndarray,
    vehicles: list[Vehicle],
    horizon: int,
    limits: SolverLimits,
    *,
    initial: list[list[int]] | None = None,
    target: int | None = None,
) -> Routed:
    """Route stops onto vehicles.

    `place[i]` is stop i's row in `walk` (walking seconds between places); `service[i]`
    its seconds at the doors; `households[i]` how many households it holds (the drop
    penalty). `initial` gives stop indices per vehicle to start the search from;
    `target` the finish past which each route's end costs (default: the balanced finish).
    """
    began = time.perf_counter()
    n_stops, n_veh = len(place), len(vehicles)
    if n_stops == 0 or n_veh == 0:
        return Routed([[] for _ in vehicles], list(range(n_stops)), 0.0, False)
    anchor = n_stops + 1
    first_start = n_stops + 2
    starts = [DEPOT] * (n_veh + 1)
    start_place: list[int] = []
    for v, veh in enumerate(vehicles):
        if veh.at >= 0:
            starts[v] = first_start + len(start_place)
            start_place.append(veh.at)
    n_nodes = first_start + len(start_place)
    node_place = np.full(n_nodes, -1, dtype=np.int64)
    node_place[1 : n_stops + 1] = place
    node_place[first_start:] = start_place
    node_service = np.zeros(n_nodes, dtype=np.int64)
    node_service[1 : n_stops + 1] = service

    # Walking between nodes: none from or to the depot and the anchor.
    has_place = node_place >= 0
    safe = np.where(has_place, node_place, 0)
    arc = walk[np.ix_(safe, safe)].astype(np.int64)
    arc[~has_place, :] = 0
    arc[:, ~has_place] = 0
    transit = arc + node_service[:, None]
    transit[:, DEPOT] = node_service  # the end of a route: the last door's service, no walk
    transit[anchor, :] = 0

    manager = pywrapcp.RoutingIndexManager(n_nodes, n_veh + 1, starts, [DEPOT] * (n_veh + 1))
    model = pywrapcp.RoutingModel(manager)
    transit_index = model.RegisterTransitMatrix(transit.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(model.RegisterTransitMatrix(arc.tolist()))
    model.AddDimension(transit_index, horizon, horizon, False, "time")
    clock = model.GetDimensionOrDie("time")
    for v, veh in enumerate(vehicles):
        clock.CumulVar(model.Start(v)).SetRange(veh.ready, veh.end)
        clock.CumulVar(model.End(v)).SetRange(veh.ready, veh.end)
    clock.CumulVar(model.Start(n_veh)).SetRange(0, 0)
    clock.CumulVar(model.End(n_veh)).SetRange(0, 0)
    model.VehicleVar(manager.NodeToIndex(anchor)).SetValues([n_veh])

    weight = n_veh + 1  # one second of completion outweighs a second on every route
    clock.SetGlobalSpanCostCoefficient(weight)
    clock.SetSpanCostCoefficientForAllVehicles(1)
    if target is None:
        target = balanced_finish(vehicles, int(service.sum()))
    for v in range(n_veh):
        clock.SetCumulVarSoftUpperBound(model.End(v), int(target), weight)
    penalty = (2 * weight + 2) * horizon
    for i in range(n_stops):
        model.AddDisjunction([manager.NodeToIndex(i + 1)], int(penalty * max(1, int(households[i]))))

    start = None
    if initial is not None:
        routes = [[manager.NodeToIndex(i + 1) for i in stops] for stops in initial]
        routes.append([manager.NodeToIndex(anchor)])
        start = model.ReadAssignmentFromRoutes(routes, True)
    solution, limited = _search(model, limits, FIRST_SOLUTION, start, gls_steps(n_stops, limits.route_search))
    seconds = time.perf_counter() - began
    if solution is None:
        return Routed([[] for _ in vehicles], list(range(n_stops)), seconds, limited)

    found: list[list[int]] = []
    performed = np.zeros(n_stops, dtype=bool)
    for v in range(n_veh):
        index = solution.Value(model.NextVar(model.Start(v)))
        stops: list[int] = []
        while not model.IsEnd(index):
            node = manager.IndexToNode(index)
            stops.append(node - 1)
            performed[node - 1] = True
            index = solution.Value(model.NextVar(index))
        found.append(stops)
    return Routed(found, np.flatnonzero(~performed).tolist(), seconds, limited)


def balanced_finish(vehicles: list[Vehicle], work: int) -> int:
    """The earliest time by which the vehicles together could have given `work` seconds (walking aside)."""
    ready = np.array([v.ready for v in vehicles], dtype=np.int64)
    end = np.array([v.end for v in vehicles], dtype=np.int64)
    lo, hi = int(ready.min()), int(end.max())
    if np.clip(hi - ready, 0, end - ready).sum() < work:
        return hi
    while lo < hi:
        mid = (lo + hi) // 2
        if np.clip(mid - ready, 0, end - ready).sum() >= work:
            hi = mid
        else:
            lo = mid + 1
    return lo
