"""The site-selection problem as immutable arrays: demand nodes, candidate sites, the pairs between them.

A pair (node, site) says the node's demand may be served at the site, at `cost` for
the node's whole demand (walking person-metres of a building, or a pmedcap customer's
distance). Pairs are sorted by node, then cost, then site, so every node's nearest
site comes first. `single_source` nodes go whole to one site (a pmedcap customer);
otherwise a node's demand may split over sites in whole units, as the assignment flow
splits a building's residents over points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class SitingProblem:
    demand: np.ndarray  # int64 units per node (persons; a pmedcap customer's demand)
    capacity: np.ndarray  # int64 units a site serves when open
    pair_node: np.ndarray  # int64
    pair_site: np.ndarray  # int64
    pair_cost: np.ndarray  # int64 cost of serving the node's whole demand at the site
    single_source: bool
    site_names: tuple[str, ...]
    node_names: tuple[str, ...]

    @classmethod
    def build(
        cls,
        demand: ArrayLike,
        capacity: ArrayLike,
        pair_node: ArrayLike,
        pair_site: ArrayLike,
        pair_cost: ArrayLike,
        *,
        single_source: bool,
        site_names: list[str] | None = None,
        node_names: list[str] | None = None,
    ) -> SitingProblem:
        """Check and sort the arrays; names default to row numbers."""
        demand = np.asarray(demand, dtype=np.int64)
        capacity = np.asarray(capacity, dtype=np.int64)
        node, site, cost = (np.asarray(a, dtype=np.int64) for a in (pair_node, pair_site, pair_cost))
        if not (len(node) == len(site) == len(cost)):
            raise ValueError("pair arrays differ in length")
        if len(node) and (node.min() < 0 or node.max() >= len(demand) or site.min() < 0 or site.max() >= len(capacity)):
            raise ValueError("a pair refers to a node or site that does not exist")
        if (demand < 0).any() or (capacity < 0).any() or (cost < 0).any():
            raise ValueError("demand, capacity and costs must not be negative")
        if not single_source and len(node) and (cost % np.maximum(demand[node], 1)).any():
            raise ValueError("split demand needs pair costs that are whole multiples of the node's demand")
        order = np.lexsort((site, cost, node))
        node, site, cost = node[order], site[order], cost[order]
        if len(node) > 1 and ((np.diff(node) == 0) & (np.diff(site) == 0)).any():
            raise ValueError("a (node, site) pair is given twice")
        return cls(
            demand=demand,
            capacity=capacity,
            pair_node=node,
            pair_site=site,
            pair_cost=cost,
            single_source=single_source,
            site_names=tuple(site_names if site_names is not None else map(str, range(len(capacity)))),
            node_names=tuple(node_names if node_names is not None else map(str, range(len(demand)))),
        )

    @property
    def n_nodes(self) -> int:
        return len(self.demand)

    @property
    def n_sites(self) -> int:
        return len(self.capacity)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_node)

    @property
    def unit_cost(self) -> np.ndarray:
        """Cost per unit of demand on each pair (float; what a split node pays per unit)."""
        return self.pair_cost / np.maximum(self.demand[self.pair_node], 1)

    def pairs_of_node(self) -> np.ndarray:
        """Offsets: node i's pairs are [offsets[i], offsets[i + 1])."""
        return np.searchsorted(self.pair_node, np.arange(self.n_nodes + 1))

    def reachable(self) -> np.ndarray:
        """Bool per node: at least one site may serve it."""
        return np.diff(self.pairs_of_node()) > 0

    def restricted(self, keep_pair: np.ndarray) -> SitingProblem:
        """The same problem with only the pairs in `keep_pair` (a bool mask)."""
        return SitingProblem(
            demand=self.demand,
            capacity=self.capacity,
            pair_node=self.pair_node[keep_pair],
            pair_site=self.pair_site[keep_pair],
            pair_cost=self.pair_cost[keep_pair],
            single_source=self.single_source,
            site_names=self.site_names,
            node_names=self.node_names,
        )
