"""The limits every OR-Tools search in the scheduler runs with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SolverLimits:
    """Seed, time limit and threads for every search: same input and seed, same answer."""

    seed: int = 0
    time_limit_s: float = 10.0
    workers: int = 1  # one worker keeps the search deterministic
    # Processes for independent pieces (the points' staffing models); the answer does not depend on it.
    processes: int = 1
    # Share of the door router's guided-local-search steps (`scheduler.doorstep.routing`): a zone
    # change's re-solve takes less to publish sooner (its figures in bench/bench_workers.py).
    route_search: float = 1.0
    # Share of the packing's exact re-packing tries (`scheduler.assign.packing.REPACK_ATTEMPTS`): each
    # part of a fanned-out solve takes its share, so the parts together try as often as one solve.
    repack_share: float = 1.0


DEFAULT_LIMITS = SolverLimits()
