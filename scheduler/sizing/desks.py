"""The desks bound: who finds no room within the round even with every desk of every point staffed.

Staff cannot fix this: the points' desks × open hours in the round are too few for the
residents who must come to them (or no open point is in reach). The assignment with
every desk staffed (`scheduler.assign.solve.assign_points`, the same one the schedule
starts from) decides it; the points named are those the unplaced households may use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.assign.solve import PointVisits
from scheduler.domain import Scenario

NAMED_POINTS = 5


@dataclass(frozen=True)
class DeskBound:
    persons: int  # residents without room at any point they may use
    no_point_persons: int  # of them: no open point in reach at all
    points: list[str]  # the full points those residents may use, most wanted first
    communities: list[str]  # the communities of their buildings

    def text(self, hours: float) -> str:
        named = ", ".join(self.points[:NAMED_POINTS]) + (" …" if len(self.points) > NAMED_POINTS else "")
        parts = []
        if self.persons > self.no_point_persons:
            parts.append(
                f"desks at points {named}: {self.persons - self.no_point_persons} residents find no room "
                f"within {hours:g} h even with every desk staffed"
            )
        if self.no_point_persons:
            parts.append(f"no open point in reach within {hours:g} h for {self.no_point_persons} residents")
        return "; ".join(parts) + f" (communities {', '.join(self.communities)})"


def desk_bound(scenario: Scenario, visits: PointVisits) -> DeskBound:
    """Residents the every-desk assignment leaves without a point, and where they would have gone."""
    problem = visits.problem
    unplaced = np.asarray(visits.packing.unplaced, dtype=np.int64)
    size = problem.demand.size[unplaced].astype(np.int64)
    building = problem.demand.building[unplaced]
    offsets = problem.eligible.offsets
    reachable = offsets[building + 1] > offsets[building]
    wanted = np.zeros(len(scenario.points), dtype=np.int64)
    for b, n in zip(building[reachable].tolist(), size[reachable].tolist(), strict=True):
        wanted[problem.eligible.point[offsets[b] : offsets[b + 1]]] += n
    order = np.lexsort((np.arange(len(wanted)), -wanted))
    communities = sorted({scenario.communities[c] for c in scenario.buildings.community[building].tolist()})
    return DeskBound(
        persons=int(size.sum()),
        no_point_persons=int(size[~reachable].sum()),
        points=[scenario.points.ids[p] for p in order.tolist() if wanted[p] > 0],
        communities=communities,
    )
