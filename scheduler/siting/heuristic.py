"""Starting solutions: the relaxation's open sets, improved by relocation and swaps, and a greedy cover.

The Lagrangean relaxation opens the sites whose knapsacks pay best. From such an open
set, the split assignment (a min-cost flow) and relocation alternate: each open site's
customers move as a group to the site that serves them cheapest, and are assigned
again, while the cost falls (the classic location-allocation heuristic). On small
problems the best few sets are then improved by swaps (one site closed, one near its
customers opened, the whole flow re-solved). The best sets get their exact assignment
(`assign`: whole nodes where they must be). The greedy cover opens, one at a time, the
site that can take the most demand not yet served and fills it nearest first; `thinned`
then closes every site the others can do without: a feasible set with few sites.
"""

from __future__ import annotations

import numpy as np

from scheduler.limits import SolverLimits
from scheduler.siting.assign import Assignment, assign, relaxed_cost, transport
from scheduler.siting.problem import SitingProblem

RELOCATION_ROUNDS = 10
SWAP_ROUNDS = 20
SWAP_TARGETS = 4  # closed sites tried in place of each open one: the cheapest for its customers
SWAP_PAIRS_MAX = 20_000  # beyond this many pairs a swap's re-flow costs too much to try them all
SWAPPED_STARTS = 4  # relocated open sets then improved by swaps too
EXACT_STARTS = 4  # open sets given an exact (whole-node) assignment


def greedy_cover(problem: SitingProblem, max_open: int | None = None) -> np.ndarray | None:
    """A bool mask of sites that serves every node (checked by the greedy fill), or None."""
    remaining = problem.demand.astype(np.int64).copy()
    is_open = np.zeros(problem.n_sites, dtype=bool)
    node, site = problem.pair_node, problem.pair_site
    unit_cost = problem.pair_cost / np.maximum(problem.demand[node], 1)
    by_site_cost = np.lexsort((node, unit_cost, site))
    site_first = np.searchsorted(site[by_site_cost], np.arange(problem.n_sites + 1))
    fits = problem.demand[node] <= problem.capacity[site]
    limit = problem.n_sites if max_open is None else max_open
    while remaining.any():
        if is_open.sum() >= limit:
            return None
        waiting = remaining[node]
        if problem.single_source:
            waiting = np.where((waiting == problem.demand[node]) & fits, waiting, 0)
        gain = np.minimum(
            np.bincount(site, weights=waiting * ~is_open[site], minlength=problem.n_sites), problem.capacity
        )
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            return None
        is_open[best] = True
        room = int(problem.capacity[best])
        for k in by_site_cost[site_first[best] : site_first[best + 1]].tolist():
            i = int(node[k])
            want = int(remaining[i])
            if problem.single_source and (want != problem.demand[i] or want > room):
                continue
            given = min(want, room)
            remaining[i], room = want - given, room - given
    return is_open


def cluster_costs(problem: SitingProblem, site: int, served: np.ndarray, load: float) -> np.ndarray:
    """What every site would cost to serve `site`'s customers as they are served now (inf where it cannot)."""
    offsets = problem.pairs_of_node()
    rows = np.flatnonzero((problem.pair_site == site) & (served > 0))
    members = problem.pair_node[rows]
    spans = [np.arange(offsets[i], offsets[i + 1]) for i in members.tolist()]
    every = np.concatenate(spans)
    share = served[rows] / np.maximum(problem.demand[members], 1)
    weight = np.repeat(share, [len(span) for span in spans])
    reach = np.bincount(problem.pair_site[every], minlength=problem.n_sites)
    cost = np.bincount(problem.pair_site[every], weights=weight * problem.pair_cost[every], minlength=problem.n_sites)
    return np.where((reach == len(members)) & (problem.capacity >= load), cost, np.inf)


def _loads(problem: SitingProblem, served: np.ndarray) -> np.ndarray:
    return np.bincount(problem.pair_site, weights=served, minlength=problem.n_sites)


def thinned(problem: SitingProblem, is_open: np.ndarray) -> np.ndarray:
    """The open set with every site closed, least loaded first, whose customers the others can still take."""
    served, unserved = transport(problem, is_open)
    if unserved:
        return is_open
    load = _loads(problem, served)
    for s in np.lexsort((np.arange(problem.n_sites), load)).tolist():
        if not is_open[s]:
            continue
        trial = is_open.copy()
        trial[s] = False
        served, unserved = transport(problem, trial)
        if not unserved:
            is_open = trial
    return is_open


def relocated(problem: SitingProblem, is_open: np.ndarray, served: np.ndarray) -> np.ndarray:
    """Each open site's customers moved, as a group, to the site that serves them cheapest.

    Clusters are taken largest first; a site already taken by another cluster is not offered again.
    """
    load = _loads(problem, served)
    taken = np.zeros(problem.n_sites, dtype=bool)
    for s in np.lexsort((np.arange(problem.n_sites), -load)).tolist():
        if not is_open[s]:
            continue
        best = s
        if load[s] > 0:
            cost = np.where(taken, np.inf, cluster_costs(problem, s, served, load[s]))
            cheapest = int(np.argmin(cost))
            if cost[cheapest] < cost[s] - 1e-9:
                best = cheapest
        taken[best] = True
    return taken


def swapped(problem: SitingProblem, is_open: np.ndarray, served: np.ndarray, cost: float) -> tuple | None:
    """The best single swap (close one site, open another near its customers) by split cost, if any pays."""
    load = _loads(problem, served)
    best: tuple | None = None
    for s in np.flatnonzero(is_open & (load > 0)).tolist():
        targets = np.where(is_open, np.inf, cluster_costs(problem, s, served, 0))
        for t in np.argsort(targets, kind="stable")[:SWAP_TARGETS].tolist():
            if not np.isfinite(targets[t]):
                break
            trial = is_open.copy()
            trial[s], trial[t] = False, True
            trial_served, unserved = transport(problem, trial)
            trial_cost = relaxed_cost(problem, trial_served)
            if not unserved and trial_cost < (cost if best is None else best[2]) - 1e-9:
                best = (trial, trial_served, trial_cost)
    return best


def improved(
    problem: SitingProblem, is_open: np.ndarray, *, swaps: bool
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Relocation and split assignment alternated while the split cost falls, then (with `swaps`) a
    swap when one pays and relocation again; None if `is_open` cannot serve everyone."""
    served, unserved = transport(problem, is_open)
    if unserved:
        return None
    cost = relaxed_cost(problem, served)
    for _ in range(SWAP_ROUNDS if swaps else 1):
        for _ in range(RELOCATION_ROUNDS):
            moved = relocated(problem, is_open, served)
            if np.array_equal(moved, is_open):
                break
            moved_served, unserved = transport(problem, moved)
            moved_cost = relaxed_cost(problem, moved_served)
            if unserved or moved_cost >= cost - 1e-9:
                break
            is_open, served, cost = moved, moved_served, moved_cost
        better = swapped(problem, is_open, served, cost) if swaps else None
        if better is None:
            break
        is_open, served, cost = better
    return is_open, served, cost


def best_start(
    problem: SitingProblem, open_sets: list[np.ndarray], limits: SolverLimits, max_open: int | None = None
) -> Assignment | None:
    """The cheapest feasible assignment found from the given open sets and the greedy cover."""
    cover = greedy_cover(problem, max_open)
    relocated_sets: dict[bytes, tuple[float, np.ndarray]] = {}
    for candidate in [*open_sets, *([cover] if cover is not None else [])]:
        if max_open is not None and candidate.sum() > max_open:
            continue
        found = improved(problem, candidate, swaps=False)
        if found is not None:
            relocated_sets.setdefault(found[0].tobytes(), (found[2], found[0]))
    ranked = sorted(relocated_sets.values(), key=lambda item: item[0])
    finals = dict(ranked)
    if problem.n_pairs <= SWAP_PAIRS_MAX:
        for _, is_open in ranked[:SWAPPED_STARTS]:
            found = improved(problem, is_open, swaps=True)
            if found is not None:
                finals[found[2]] = found[0]
    best: Assignment | None = None
    for _, is_open in sorted(finals.items(), key=lambda item: item[0])[:EXACT_STARTS]:
        exact = assign(problem, is_open, limits)
        if exact is not None and (best is None or exact.cost < best.cost):
            best = exact
    return best
