"""What the API (and the CLI) call: request a solve or a sizing, record a zone change, run the embedded worker.

Every request is written to the database and committed first, then enqueued; a message that
cannot be sent (Redis down) leaves its row with `enqueued_at` NULL, and the relay that runs in
every worker sends it as soon as the broker takes messages again. Sending twice is harmless:
the actors are idempotent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import dramatiq
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from scheduler.domain import LEVELS, SCOPES
from store.models import utcnow
from store.whatif import ledger_scenario_id  # a what-if fork's targets are its ledger's
from workers import actors  # noqa: F401  (declares the actors on the broker, for the embedded worker)
from workers.db import bind_engine
from workers.relay import APPLY_ZONE_CHANGES, JOB, SOLVE, ZONE_CHANGE, mark_enqueued, send
from workers.sizing import SIZE, SIZING

log = logging.getLogger(__name__)

# A zone change is sent this much later, so that a burst of changes to one scenario ends in
# the re-solve of its newest change (older ones find a newer pending change and drop out): it
# need only outlast the gaps between a burst's changes (milliseconds), not a solve.
SETTLE_MS = 100

_building = SQLModel.metadata.tables["building"]
_scenario = SQLModel.metadata.tables["scenario"]


class UnknownScenario(LookupError):
    """No scenario with that id."""


class ZoneChangeError(ValueError):
    """A zone change that cannot be recorded (unknown level, scope or target); nothing was written."""


def _require_scenario(conn: sa.Connection, scenario_id: int) -> None:
    if conn.execute(sa.select(_scenario.c.id).where(_scenario.c.id == scenario_id)).scalar() is None:
        raise UnknownScenario(f"no scenario {scenario_id}")


def _queue_job(engine: Engine, actor_name: str, scenario_id: int, **values: Any) -> int:
    """Write a queued job row of the scenario, commit, then send `actor_name(job id)`; return the job id."""
    now = utcnow()
    with engine.begin() as conn:
        _require_scenario(conn, scenario_id)
        job_id = int(
            conn.execute(
                JOB.insert()
                .values(scenario_id=scenario_id, status="queued", created_at=now, updated_at=now, **values)
                .returning(JOB.c.id)
            ).scalar_one()
        )
    if send(actor_name, job_id):
        mark_enqueued(engine, JOB, job_id)
    return job_id


def request_solve(engine: Engine, scenario_id: int, *, cause: str = "initial solve", seed: int = 0) -> int:
    """Queue a solve of the scenario (from its newest published version, if any); return the job id."""
    return _queue_job(engine, SOLVE, scenario_id, kind="solve", cause=cause, seed=seed)


def request_sizing(engine: Engine, scenario_id: int, *, hours: float, seed: int = 0) -> int:
    """Queue a staff sizing of the scenario for a round finished within `hours`; return the job id.

    The job's `result` holds the answer once it is done (`workers.sizing`). The relay sends a queued
    job as `schedule.solve`, whose actor runs a sizing job as a sizing.
    """
    return _queue_job(
        engine, SIZE, scenario_id, kind=SIZING, cause=f"sizing: within {hours:g} h", seed=seed, hours=hours
    )


def record_zone_change(
    engine: Engine, scenario_id: int, *, level: str, scope: str, target_id: str, effective_at: datetime
) -> int:
    """Record that a community, compound or building becomes `level` (`normal` lifts its zone); return its id.

    The change replaces the zone of that same scope and target; the re-solve that follows applies
    every change recorded so far. Raises `ZoneChangeError` (nothing written) for an unknown level,
    scope or target, or an `effective_at` with a UTC offset (times are local, as in the ledger).
    """
    level, scope = level.strip().lower(), scope.strip().lower()
    if level not in LEVELS:
        raise ZoneChangeError(f"level {level!r}: expected one of {', '.join(LEVELS)}")
    if scope not in SCOPES:
        raise ZoneChangeError(f"scope {scope!r}: expected one of {', '.join(SCOPES)}")
    if effective_at.tzinfo is not None:
        raise ZoneChangeError("effective_at carries a UTC offset; zone changes are in local time without one")
    column = _building.c[f"{scope}_id"]
    with engine.begin() as conn:
        _require_scenario(conn, scenario_id)
        found = conn.execute(
            sa.select(column)
            .where(_building.c.scenario_id == ledger_scenario_id(conn, scenario_id), column == target_id)
            .limit(1)
        ).scalar()
        if found is None:
            raise ZoneChangeError(f"target_id {target_id!r}: no {scope} of scenario {scenario_id} has that id")
        change_id = int(
            conn.execute(
                ZONE_CHANGE.insert()
                .values(
                    scenario_id=scenario_id,
                    level=level,
                    scope=scope,
                    target_id=target_id,
                    effective_at=effective_at,
                    created_at=utcnow(),
                )
                .returning(ZONE_CHANGE.c.id)
            ).scalar_one()
        )
    if send(APPLY_ZONE_CHANGES, change_id, delay=SETTLE_MS):
        mark_enqueued(engine, ZONE_CHANGE, change_id)
    return change_id


_embedded: dramatiq.Worker | None = None


def start_embedded_worker(engine: Engine | None = None, *, threads: int = 1) -> None:
    """Consume the broker in this process (the embedded default; also tests); actors use `engine` if given."""
    global _embedded
    if _embedded is not None:
        return
    bind_engine(engine)
    _embedded = dramatiq.Worker(dramatiq.get_broker(), worker_threads=threads, worker_timeout=100)
    _embedded.start()


def stop_embedded_worker() -> None:
    """Stop the in-process worker, letting the message in hand finish."""
    global _embedded
    if _embedded is None:
        return
    _embedded.stop()
    _embedded = None
    bind_engine(None)
