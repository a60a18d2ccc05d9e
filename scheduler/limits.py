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


DEFAULT_LIMITS = SolverLimits()
