"""The dramatiq actors: ids in, everything else reloaded from the database.

Start worker processes with `sched worker` (or `dramatiq workers.actors`). Each actor is
idempotent (see `workers.solving`); database errors are retried with exponential backoff,
any other failure (an invalid schedule, the time limit) marks the job failed with its
message, and a solve's or a sizing's CP-SAT stages stop long before the actor's own time limit.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import dramatiq
import psycopg
import sqlalchemy as sa
from dramatiq.middleware import CurrentMessage, Interrupt

from scheduler.limits import SolverLimits
from store.settings import get_settings
from store.versions import StalePublication
from workers.broker import broker
from workers.db import get_engine
from workers.fanout import JOIN, SOLVE_PART, BrokerUnavailable, fan_out_job, job_of_part, run_join, run_part
from workers.relay import APPLY_ZONE_CHANGES, SOLVE
from workers.sizing import SIZE, run_sizing_job
from workers.solving import BUSY, STALE, apply_zone_change, run_solve_job, running_resolve_job, set_job

log = logging.getLogger(__name__)

MAX_RETRIES = 10
BUSY_DELAY_MS = 500  # another solve of the scenario holds its lock: look again this much later
# Database trouble (a lost connection, a locked SQLite file) and a parent that moved on while
# solving are worth another try; anything else would fail the same way again.
RETRYABLE: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    psycopg.OperationalError,
    sqlite3.OperationalError,
    StalePublication,
    BrokerUnavailable,
)


def _retry_when(retries: int, exc: BaseException) -> bool:
    return retries < MAX_RETRIES and isinstance(exc, RETRYABLE)


_settings = get_settings()
LIMITS = SolverLimits(time_limit_s=_settings.solver_time_limit_s)
_OPTIONS: dict[str, Any] = {
    "max_retries": MAX_RETRIES,
    "min_backoff": 500,
    "max_backoff": 60_000,
    "retry_when": _retry_when,
    "time_limit": int(_settings.solve_time_limit_s * 1000),
}


def _guarded(run: Callable[[], str], failed_job: Callable[[], int | None]) -> str | None:
    """Run an actor's work: re-raise what is worth a retry (dramatiq backs off), else mark the job failed."""
    try:
        return run()
    except Interrupt as exc:  # the actor's time limit, or a shutdown
        error = f"stopped: {type(exc).__name__}"
    except Exception as exc:
        message = CurrentMessage.get_current_message()
        retries = message.options.get("retries", 0) if message is not None else MAX_RETRIES
        if _retry_when(retries, exc):
            log.warning("retrying after %s: %s", type(exc).__name__, exc)
            raise
        log.exception("job failed")
        error = f"{type(exc).__name__}: {exc}"
    job_id = failed_job()
    if job_id is not None:
        set_job(get_engine(), job_id, status="failed", error=error)
    return None


@dramatiq.actor(actor_name=SOLVE, broker=broker, **_OPTIONS)
def solve(job_id: int) -> None:
    """A requested solve of a scenario (job row `job_id`), published when done."""
    engine = get_engine()
    # The relay sends every queued job as this message: a sizing job is sized (workers.sizing). A large
    # scenario fans out into parts (workers.fanout); a small one is solved here.
    outcome = _guarded(
        lambda: (
            run_sizing_job(engine, job_id, LIMITS)
            or fan_out_job(engine, job_id)
            or run_solve_job(engine, job_id, LIMITS)
        ),
        lambda: job_id,
    )
    if outcome == BUSY:
        solve.send_with_options(args=(job_id,), delay=BUSY_DELAY_MS)


@dramatiq.actor(actor_name=SIZE, broker=broker, **_OPTIONS)
def size(job_id: int) -> None:
    """A requested staff sizing (job row `job_id`): its answer stored on the job."""
    _guarded(lambda: run_sizing_job(get_engine(), job_id, LIMITS) or STALE, lambda: job_id)


@dramatiq.actor(actor_name=SOLVE_PART, broker=broker, **_OPTIONS)
def solve_part(part_id: int) -> None:
    """One part of a fanned-out solve (`solve_part` row `part_id`); the last part to finish sends the join."""
    engine = get_engine()
    _guarded(lambda: run_part(engine, part_id, LIMITS), lambda: job_of_part(engine, part_id))


@dramatiq.actor(actor_name=JOIN, broker=broker, **_OPTIONS)
def join(job_id: int) -> None:
    """The join of a fanned-out solve: merge its parts, validate, publish once."""
    outcome = _guarded(lambda: run_join(get_engine(), job_id, LIMITS), lambda: job_id)
    if outcome == BUSY:
        join.send_with_options(args=(job_id,), delay=BUSY_DELAY_MS)


@dramatiq.actor(actor_name=APPLY_ZONE_CHANGES, broker=broker, **_OPTIONS)
def apply_zone_changes(change_id: int) -> None:
    """The re-solve after zone change `change_id` (and every change before it), published when done."""
    engine = get_engine()
    outcome = _guarded(
        lambda: apply_zone_change(engine, change_id, LIMITS), lambda: running_resolve_job(engine, change_id)
    )
    if outcome == BUSY:
        apply_zone_changes.send_with_options(args=(change_id,), delay=BUSY_DELAY_MS)
