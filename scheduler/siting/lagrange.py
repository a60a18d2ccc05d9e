"""Lagrangean lower bounds for site selection, and the reduced-cost fixing they allow.

Relax coverage (each node served once) with multipliers λ: the problem falls apart into
one knapsack per site (which nodes it would serve at cost − λ, within its capacity) and
the choice of at most K sites whose knapsacks pay best. The knapsack is solved exactly
(0-1, by dynamic programming over capacity) where nodes go whole to one site and the
capacities are small, which gives a bound above the LP relaxation; otherwise it is the
fractional knapsack, and the bound equals the LP relaxation's. Subgradient steps
(Held–Karp, step halved when the bound stalls) improve λ; every λ gives a valid bound.

With an upper bound U, a site whose opening alone lifts the bound above U is closed for
good, a site whose closing does so is open for good, and a (node, site) pair whose use
does so is dropped: no solution better than U is lost (`Fixing`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.siting.problem import SitingProblem

DP_CELLS_MAX = 40_000_000  # items × sites × capacity cells the exact knapsack may fill, else fractional
TOLERANCE = 1e-7


@dataclass(frozen=True)
class Objective:
    """What the relaxation prices: a cost per pair (whole demand) and a cost per open site."""

    pair_cost: np.ndarray  # float64
    site_cost: np.ndarray  # float64
    max_open: int


@dataclass
class SiteKnapsacks:
    """The knapsacks of every site at one λ: each site's value and what it takes."""

    value: np.ndarray  # float64 per site: site cost + best knapsack
    take: np.ndarray  # float64 per pair: share of the node the site's knapsack takes
    exact: bool


@dataclass
class Relaxed:
    """One evaluation of the Lagrangean function."""

    bound: float
    multipliers: np.ndarray
    knapsacks: SiteKnapsacks
    chosen: np.ndarray  # bool per site: open in the relaxation
    marginal: float  # value of the worst chosen site when K are chosen, else 0 (a free place)
    next_best: float  # value of the best site left out, capped at 0


class Relaxation:
    """The Lagrangean relaxation of coverage for one problem and objective."""

    def __init__(self, problem: SitingProblem, objective: Objective) -> None:
        self.problem = problem
        self.objective = objective
        self.weight = problem.demand[problem.pair_node].astype(np.int64)
        self.capacity = problem.capacity.astype(np.int64)
        self.by_site = np.lexsort((problem.pair_node, problem.pair_site))  # pairs grouped by site
        self.exact = problem.single_source and self._dp_cells() <= DP_CELLS_MAX

    def _dp_cells(self) -> int:
        p = self.problem
        counts = np.bincount(p.pair_site, minlength=p.n_sites)
        load = np.bincount(p.pair_site, weights=self.weight, minlength=p.n_sites)
        useful = np.minimum(self.capacity, load)
        return int(counts.max(initial=0)) * int((counts > 0).sum()) * (int(useful.max(initial=0)) + 1)

    def reduced_costs(self, multipliers: np.ndarray) -> np.ndarray:
        return self.objective.pair_cost - multipliers[self.problem.pair_node]

    def knapsacks(self, multipliers: np.ndarray) -> SiteKnapsacks:
        reduced = self.reduced_costs(multipliers)
        take = self._exact(reduced) if self.exact else self._fractional(reduced)
        value = self.objective.site_cost + np.bincount(
            self.problem.pair_site, weights=reduced * take, minlength=self.problem.n_sites
        )
        return SiteKnapsacks(value=value, take=take, exact=self.exact)

    def _fractional(self, reduced: np.ndarray) -> np.ndarray:
        """Each site takes its cheapest pairs per unit of demand until its capacity is full."""
        p = self.problem
        take = np.zeros(p.n_pairs)
        candidates = np.flatnonzero(reduced < 0)
        if not len(candidates):
            return take
        weight = self.weight[candidates]
        per_unit = np.where(weight > 0, reduced[candidates] / np.maximum(weight, 1), -np.inf)
        site = p.pair_site[candidates]
        order = np.lexsort((candidates, per_unit, site))
        candidates, weight, site = candidates[order], weight[order], site[order]
        before = _cumsum_within(weight, site) - weight
        room = self.capacity[site] - before
        take[candidates] = np.clip(room / np.maximum(weight, 1), 0.0, 1.0)
        take[candidates[weight == 0]] = 1.0
        return take

    def _exact(self, reduced: np.ndarray) -> np.ndarray:
        """0-1 knapsack per site by dynamic programming, then each site's best set read back."""
        take = np.zeros(self.problem.n_pairs)
        table = knapsack_table(self, reduced)
        if table is None:
            return take
        left = table.room.copy()
        for rank in range(int(table.count.max()) - 1, -1, -1):
            rows = np.flatnonzero(table.count > rank)
            chosen = table.taken[rank, rows, left[rows]]
            item = table.items[table.first[rows[chosen]] + rank]
            take[item] = 1.0
            left[rows[chosen]] -= self.weight[item]
        return take

    def evaluate(self, multipliers: np.ndarray) -> Relaxed:
        knapsacks = self.knapsacks(multipliers)
        value = knapsacks.value
        order = np.lexsort((np.arange(len(value)), value))
        k = self.objective.max_open
        chosen_rows = order[:k][value[order[:k]] < 0]
        chosen = np.zeros(len(value), dtype=bool)
        chosen[chosen_rows] = True
        bound = float(multipliers.sum() + value[chosen_rows].sum())
        marginal = float(value[chosen_rows[-1]]) if len(chosen_rows) == k and k else 0.0
        rest = order[len(chosen_rows) :]
        next_best = min(0.0, float(value[rest[0]])) if len(rest) else 0.0
        return Relaxed(bound, multipliers, knapsacks, chosen, marginal, next_best)

    def subgradient(self, relaxed: Relaxed) -> np.ndarray:
        served = np.bincount(
            self.problem.pair_node,
            weights=relaxed.knapsacks.take * relaxed.chosen[self.problem.pair_site],
            minlength=self.problem.n_nodes,
        )
        return 1.0 - served

    def initial_multipliers(self) -> np.ndarray:
        """Each node's second-cheapest pair (its cheapest when it has one): a usual start."""
        p = self.problem
        offsets = p.pairs_of_node()
        counts = np.diff(offsets)
        cost = self.objective.pair_cost  # sorted by node then pair cost for the walking objective
        second = np.minimum(offsets[:-1] + 1, np.maximum(offsets[1:] - 1, offsets[:-1]))
        start = np.zeros(p.n_nodes)
        has = counts > 0
        start[has] = cost[second[has]]
        # Opening costs are shared by the nodes a site serves, so a node is worth a share of one.
        share = self.objective.site_cost.max(initial=0.0) * p.demand / max(int(p.capacity.max(initial=1)), 1)
        return start + share


def _cumsum_within(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sums of `values` restarting at each new `group` (values sorted by group)."""
    total = np.cumsum(values)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    offsets = np.repeat(total[starts] - values[starts], np.diff(np.r_[starts, len(values)]))
    return total - offsets


@dataclass(frozen=True)
class DualResult:
    best: Relaxed
    iterations: int
    open_sets: list[np.ndarray]  # distinct open sets of the relaxation met on the way, best bound first


def lagrangean_dual(
    relaxation: Relaxation,
    *,
    upper_bound: float | None,
    iterations: int,
    patience: int = 30,
    multipliers: np.ndarray | None = None,
    keep_open_sets: int = 0,
    enough: float = np.inf,
) -> DualResult:
    """Improve the multipliers by subgradient steps toward `upper_bound` (or 2 % above the bound).

    Stops early once the bound reaches `enough` (for whole-number objectives, upper bound − 1:
    the upper bound is then proven optimal).
    """
    lam = relaxation.initial_multipliers() if multipliers is None else multipliers.copy()
    best: Relaxed | None = None
    step = 1.0
    stalled = 0
    seen: dict[bytes, tuple[float, np.ndarray]] = {}
    done = 0
    for done in range(1, iterations + 1):  # noqa: B007 (the count is returned)
        current = relaxation.evaluate(lam)
        if keep_open_sets:
            key = current.chosen.tobytes()
            if key not in seen or seen[key][0] < current.bound:
                seen[key] = (current.bound, current.chosen)
        if best is None or current.bound > best.bound + TOLERANCE * max(1.0, abs(best.bound)):
            best, stalled = current, 0
        else:
            stalled += 1
            if stalled >= patience:
                step, stalled = step / 2, 0
                lam = best.multipliers.copy()
                if step < 1e-3:
                    break
                continue
        target = upper_bound if upper_bound is not None else best.bound + 0.02 * max(1.0, abs(best.bound))
        if best.bound >= enough or target - best.bound <= TOLERANCE * max(1.0, abs(target)):
            break
        direction = relaxation.subgradient(current)
        norm = float(direction @ direction)
        if norm == 0:
            break  # the relaxation's answer serves everyone once: it is optimal
        lam = lam + step * max(target - current.bound, 0.0) / norm * direction
    assert best is not None
    ranked = sorted(seen.values(), key=lambda item: -item[0])[:keep_open_sets]
    return DualResult(best=best, iterations=done, open_sets=[chosen for _, chosen in ranked])


@dataclass(frozen=True)
class Fixing:
    """What an upper bound and a Lagrangean bound decide before any search."""

    site_closed: np.ndarray  # bool per site: no solution better than the upper bound opens it
    site_open: np.ndarray  # bool per site: no solution better than the upper bound closes it
    pair_kept: np.ndarray  # bool per pair: may appear in a solution no worse than the upper bound


def reduced_cost_fixing(relaxation: Relaxation, relaxed: Relaxed, upper_bound: float) -> Fixing:
    """Sites and pairs that cannot appear in (or be missing from) a solution of cost ≤ upper_bound."""
    p = relaxation.problem
    value = relaxed.knapsacks.value
    slack = upper_bound - relaxed.bound + TOLERANCE * max(1.0, abs(upper_bound))
    # Opening a site the relaxation left shut replaces its worst chosen site (or fills a free place).
    opening_penalty = np.where(relaxed.chosen, 0.0, value - relaxed.marginal)
    closing_penalty = np.where(relaxed.chosen, relaxed.next_best - value, 0.0)
    site_closed = opening_penalty > slack
    site_open = relaxed.chosen & (closing_penalty > slack)

    reduced = relaxation.reduced_costs(relaxed.multipliers)
    site = p.pair_site
    if relaxed.knapsacks.exact:
        # Forcing the pair into its site: its cost plus the best knapsack of the rest of the capacity
        # (items may repeat there, which only lowers the value, so the bound stays valid).
        forced = relaxation.objective.site_cost[site] + reduced + _knapsack_at(relaxation, relaxed, reduced)
        pair_penalty = forced - np.where(relaxed.chosen[site], value[site], relaxed.marginal)
    else:
        # Fractional knapsack: sending one unit more costs at least its reduced cost at the site's critical ratio.
        per_unit = _unit_reduced_cost(relaxation, relaxed, reduced)
        pair_penalty = opening_penalty[site] + np.maximum(per_unit, 0.0)
    pair_kept = ~site_closed[site] & (pair_penalty <= slack)
    if p.single_source:
        pair_kept &= relaxation.weight <= relaxation.capacity[site]
    return Fixing(site_closed=site_closed, site_open=site_open, pair_kept=pair_kept)


@dataclass(frozen=True)
class KnapsackTable:
    """0-1 knapsacks of all sites at once: least reduced cost within each capacity, and the choices made."""

    items: np.ndarray  # pairs with a negative reduced cost, grouped by site
    sites: np.ndarray  # the sites that have such pairs
    first: np.ndarray  # where each site's items start in `items`
    count: np.ndarray  # how many items each site has
    room: np.ndarray  # each site's capacity, capped at the demand it could take
    best: np.ndarray  # (sites, capacity + 1): least cost within capacity c
    taken: np.ndarray  # (rank, sites, capacity + 1): item `rank` improved the cell


def knapsack_table(relaxation: Relaxation, reduced: np.ndarray) -> KnapsackTable | None:
    """Dynamic programming over capacity, item by item, every site in the same numpy step."""
    items = relaxation.by_site[reduced[relaxation.by_site] < 0]
    if not len(items):
        return None
    sites, first, count = np.unique(relaxation.problem.pair_site[items], return_index=True, return_counts=True)
    weight = relaxation.weight
    room = np.minimum(relaxation.capacity[sites], np.add.reduceat(weight[items], first))
    width = int(room.max()) + 1
    best = np.zeros((len(sites), width))
    taken = np.zeros((int(count.max()), len(sites), width), dtype=bool)
    cells = np.arange(width)
    for rank in range(int(count.max())):
        rows = np.flatnonzero(count > rank)
        item = items[first[rows] + rank]
        source = cells[None, :] - weight[item][:, None]
        fits = (source >= 0) & (cells[None, :] <= room[rows, None])
        offer = np.where(fits, best[rows[:, None], np.maximum(source, 0)] + reduced[item][:, None], np.inf)
        better = offer < best[rows] - TOLERANCE
        best[rows] = np.where(better, offer, best[rows])
        taken[rank, rows] = better
    return KnapsackTable(items, sites, first, count, room, best, taken)


def _knapsack_at(relaxation: Relaxation, relaxed: Relaxed, reduced: np.ndarray) -> np.ndarray:
    """Per pair: the best 0-1 knapsack of its site within capacity minus the pair's demand."""
    p = relaxation.problem
    out = np.zeros(p.n_pairs)
    table = knapsack_table(relaxation, reduced)
    if table is None:
        return out
    left = relaxation.capacity[p.pair_site] - relaxation.weight
    row_of_site = np.full(p.n_sites, -1)
    row_of_site[table.sites] = np.arange(len(table.sites))
    rows = row_of_site[p.pair_site]
    has = (rows >= 0) & (left >= 0)
    out[has] = table.best[rows[has], np.minimum(left[has], table.room[rows[has]])]
    return out


def _unit_reduced_cost(relaxation: Relaxation, relaxed: Relaxed, reduced: np.ndarray) -> np.ndarray:
    """Per pair: the LP reduced cost of one unit of its node at its site.

    A full site prices its capacity at the per-unit cost of the dearest unit it took
    (an optimal dual of the fractional knapsack); a site with room left prices it at 0.
    """
    p = relaxation.problem
    per_unit = reduced / np.maximum(relaxation.weight, 1)
    take = relaxed.knapsacks.take
    load = np.bincount(p.pair_site, weights=relaxation.weight * take, minlength=p.n_sites)
    full = load >= relaxation.capacity - TOLERANCE
    dearest_taken = np.full(p.n_sites, -np.inf)
    taken = take > 0
    np.maximum.at(dearest_taken, p.pair_site[taken], per_unit[taken])
    price = np.where(full & np.isfinite(dearest_taken), np.maximum(0.0, -dearest_taken), 0.0)
    return per_unit + price[p.pair_site]
