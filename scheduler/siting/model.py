"""The site-selection MIP, built from one module per constraint family.

Variables: `open[s]` (binary) per candidate site still undecided, and `serve[k]` per kept
(node, site) pair: the share of the node's demand served there (binary when nodes go
whole to one site, continuous otherwise). Each family adds its constraints and returns
its named objective terms (`coverage`, `capacity`, `opening`, `walking`), so a solved
model can say what each part cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ortools.math_opt.python import mathopt

from scheduler.siting.problem import SitingProblem


@dataclass
class SitingModel:
    """A math_opt model over the kept pairs and the sites not yet decided."""

    problem: SitingProblem
    pairs: np.ndarray  # int64 rows of problem pairs that have a variable
    model: mathopt.Model = field(default_factory=lambda: mathopt.Model(name="siting"))
    open: dict[int, mathopt.Variable | float] = field(default_factory=dict)  # site → variable, or 1.0 when fixed open
    serve: list[mathopt.Variable] = field(default_factory=list)  # per kept pair
    terms: dict[str, mathopt.LinearExpression] = field(default_factory=dict)

    @classmethod
    def create(cls, problem: SitingProblem, pairs: np.ndarray, site_open: np.ndarray) -> SitingModel:
        built = cls(problem=problem, pairs=pairs)
        for s in np.unique(problem.pair_site[pairs]).tolist():
            built.open[s] = 1.0 if site_open[s] else built.model.add_binary_variable(name=f"open_{s}")
        integer = problem.single_source
        built.serve = [built.model.add_variable(lb=0.0, ub=1.0, is_integer=integer) for _ in range(len(pairs))]
        return built

    def pair_site(self) -> np.ndarray:
        return self.problem.pair_site[self.pairs]

    def pair_node(self) -> np.ndarray:
        return self.problem.pair_node[self.pairs]

    def add_terms(self, terms: dict[str, mathopt.LinearExpression]) -> None:
        self.terms.update(terms)

    def objective(self) -> mathopt.LinearExpression:
        return mathopt.fast_sum(self.terms.values())


def grouped(keys: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(key, positions) for each distinct key, in key order."""
    order = np.argsort(keys, kind="stable")
    values, starts = np.unique(keys[order], return_index=True)
    return list(zip(values.tolist(), np.split(order, starts[1:]), strict=True))
