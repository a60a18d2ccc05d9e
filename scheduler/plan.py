"""The whole schedule of a scenario: residents' visits, doorstep routes and the staff roster.

This is the entry point the CLI, the API and the workers call; the stages live in
`scheduler.assign`, `scheduler.doorstep` and `scheduler.staffing`.
"""

from __future__ import annotations

from scheduler.assign.solve import Progress, solve_assignment
from scheduler.domain import Scenario
from scheduler.limits import DEFAULT_LIMITS, SolverLimits
from scheduler.schedule import Schedule


def solve_schedule(
    scenario: Scenario,
    *,
    previous: Schedule | None = None,
    limits: SolverLimits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Schedule:
    """Every resident's visit, the doorstep routes and the roster, kept close to `previous` when given."""
    return solve_assignment(scenario, previous=previous, limits=limits, progress=progress)
