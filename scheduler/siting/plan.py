"""Site selection for a scenario: candidates, the problem, the solve, and what the planner reads back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scheduler.domain import OpeningHours, Points, Scenario
from scheduler.limits import SolverLimits
from scheduler.siting.candidates import candidate_sites
from scheduler.siting.demand import ScenarioSiting, scenario_problem
from scheduler.siting.solve import SitingResult, fewest, open_at_most

SIMPLIFICATIONS = (
    "demand is residents per building who go to a point (sealed buildings and bedridden households are "
    "sampled at the door); a building's residents may split over points, as the assignment flow splits them; "
    "capacity is every desk staffed through the point's open slots of the round; generated sites are "
    "community points of their building's community; households kept whole and slots are left to `sched solve`"
)


@dataclass(frozen=True)
class ScenarioSitingResult:
    siting: ScenarioSiting
    result: SitingResult

    @property
    def chosen(self) -> np.ndarray:
        """Candidate rows opened, in candidate order (ledger points first)."""
        return self.result.assignment.open_sites()

    def persons_per_site(self) -> np.ndarray:
        problem = self.siting.problem
        return np.bincount(problem.pair_site, weights=self.result.assignment.served, minlength=problem.n_sites).astype(
            np.int64
        )

    def chosen_points(self) -> Points:
        points, rows = self.siting.candidates.points, self.chosen
        return Points(
            ids=[points.ids[r] for r in rows.tolist()],
            names=[points.names[r] for r in rows.tolist()],
            community=points.community[rows],
            compound=points.compound[rows],
            lat=points.lat[rows],
            lon=points.lon[rows],
            desks=points.desks[rows],
            hours=[points.hours[r] for r in rows.tolist()],
            accessible=points.accessible[rows],
        )

    def figures(self) -> dict[str, Any]:
        result, siting = self.result, self.siting
        persons = int(siting.problem.demand.sum())
        walk = result.terms["walk"]
        figures: dict[str, Any] = {
            "question": result.question,
            "candidates": siting.problem.n_sites,
            "candidates_generated": int(siting.candidates.generated.sum()),
            "points_chosen": len(self.chosen),
            "ledger_points_chosen": int((~siting.candidates.generated[self.chosen]).sum()),
            "persons_at_points": persons,
            "persons_at_door": siting.door_persons,
            "persons_out_of_reach": siting.unreachable_persons,
            "walk_m_total": walk,
            "walk_m_mean": round(walk / persons, 1) if persons else 0.0,
            "walk_m_lower_bound": result.walk_bound,
            "walk_gap": round(result.walk_gap, 6),
        }
        if result.question == "fewest":
            figures["points_lower_bound"] = result.bound
        figures["solve_seconds"] = round(result.seconds, 2)
        figures["stages"] = result.stages
        figures["simplifications"] = SIMPLIFICATIONS
        return figures


def site_scenario(
    scenario: Scenario,
    *,
    max_open: int | None,
    candidates: int | None = None,
    limits: SolverLimits,
    relative_gap: float = 0.0,
    site_desks: int | None = None,
    site_hours: OpeningHours | None = None,
) -> ScenarioSitingResult:
    """Open at most `max_open` candidates (None: the fewest that serve everyone) and assign the walkers."""
    total = len(scenario.points) if candidates is None else candidates
    sites = candidate_sites(scenario, total, desks=site_desks, hours=site_hours)
    siting = scenario_problem(scenario, sites)
    if max_open is None:
        result = fewest(siting.problem, limits, relative_gap=relative_gap)
    else:
        result = open_at_most(siting.problem, max_open, limits, relative_gap=relative_gap)
    return ScenarioSitingResult(siting=siting, result=result)
