"""Capacitated p-median instances of the OR-Library (Osman & Christofides 1994, "pmedcap1").

Text: line 1 `number optimum`, line 2 `n p capacity`, then n lines `id x y demand`.
Every customer is also a candidate median serving at most `capacity` demand, its own
included; each customer goes whole to one median; the cost is the sum over customers of
floor(Euclidean distance) to their median, not weighted by demand (the published optima
use floored distances). Read from the text or straight from the zip it is shipped in.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scheduler.siting.problem import SitingProblem


class InstanceError(ValueError):
    """The text is not a pmedcap instance."""


@dataclass(frozen=True)
class PmedcapInstance:
    name: str
    medians: int
    published_optimum: int  # from the header; a solver under test must not look at it
    problem: SitingProblem
    xy: np.ndarray  # float64 (n, 2)


def parse_pmedcap(text: str, name: str) -> PmedcapInstance:
    tokens = text.split()
    try:
        numbers = [int(t) for t in tokens]
    except ValueError as err:
        raise InstanceError(f"{name}: not all numbers ({err})") from None
    if len(numbers) < 5:
        raise InstanceError(f"{name}: too short for a header")
    optimum, n, p, capacity = numbers[1], numbers[2], numbers[3], numbers[4]
    rows = numbers[5:]
    if len(rows) != 4 * n:
        raise InstanceError(f"{name}: header says {n} customers, found {len(rows) / 4:g} rows")
    table = np.array(rows, dtype=np.int64).reshape(n, 4)
    xy = table[:, 1:3].astype(np.float64)
    demand = table[:, 3]
    distance = np.floor(np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))).astype(np.int64)
    customer, median = np.divmod(np.arange(n * n), n)
    ids = [str(i) for i in table[:, 0].tolist()]
    problem = SitingProblem.build(
        demand=demand,
        capacity=np.full(n, capacity, dtype=np.int64),
        pair_node=customer,
        pair_site=median,
        pair_cost=distance.ravel(),
        single_source=True,
        site_names=ids,
        node_names=ids,
    )
    return PmedcapInstance(name=name, medians=p, published_optimum=optimum, problem=problem, xy=xy)


def read_pmedcap(path: Path) -> PmedcapInstance:
    """An instance from its text file, or from a zip holding one text file."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise InstanceError(f"{path}: expected one file in the zip, found {len(names)}")
            text = archive.read(names[0]).decode("ascii")
    else:
        text = path.read_text(encoding="ascii")
    return parse_pmedcap(text, path.stem)
