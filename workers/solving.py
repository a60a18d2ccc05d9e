"""What the actors do, without dramatiq: solve a scenario's current state and publish it once.

The input state of a scenario is its newest published version (the parent) and its newest
recorded zone change (`through`). A version is keyed by that state (`input_key`), so a
redelivered or duplicated message finds the draft already stored instead of writing a second
one, and `publish(..., only_if_newest=True)` refuses a version whose parent has moved on.
Solves of one scenario run one at a time (`scenario_lock`); a message that finds the lock
taken comes back later (`BUSY`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from scheduler.domain import Scenario
from scheduler.limits import SolverLimits
from scheduler.plan import solve_schedule
from scheduler.resolve import community_of_target, resolve_communities
from scheduler.schedule import Schedule
from scheduler.validate import validate
from store import versions, whatif
from store.models import utcnow

log = logging.getLogger(__name__)

JOB = SQLModel.metadata.tables["job"]
ZONE_CHANGE = versions.ZONE_CHANGE
VERSION = versions.VERSION

# Outcomes of one message.
DONE, STALE, COALESCED, BUSY = "done", "stale", "coalesced", "busy"
_LOCK_CLASS = 0x5C4EE  # first key of the per-scenario advisory locks (PostgreSQL)
# A zone change's re-solve routes new door visits with a tenth of the router's local search:
# it publishes sooner, with the same completion on the benchmark's community (bench_workers.py).
RESOLVE_ROUTE_SEARCH = 0.1
# This process's scenarios and the versions it stored: a re-solve reads only the zones and starts
# from the version it published last without reading either back.
_cache = versions.LoadCache()
_local_locks: dict[int, threading.Lock] = {}
_local_locks_guard = threading.Lock()


class InvalidSchedule(RuntimeError):
    """The solver's schedule breaks a rule of the contract: it is not published."""


@contextmanager
def scenario_lock(engine: Engine, scenario_id: int) -> Iterator[bool]:
    """Try to take the scenario's solve lock; yields whether it was taken (never waits).

    PostgreSQL: a session advisory lock, shared by every worker process and freed by the server
    when a killed worker's connection drops. SQLite (embedded, one process): a process lock.
    """
    if engine.dialect.name != "postgresql":
        with _local_locks_guard:
            lock = _local_locks.setdefault(scenario_id, threading.Lock())
        held = lock.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                lock.release()
        return
    with engine.connect() as conn:
        key = {"c": _LOCK_CLASS, "s": scenario_id}
        held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:c, :s)"), key).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                try:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:c, :s)"), key)
                    conn.commit()
                except sa.exc.DBAPIError:
                    conn.invalidate()  # the session, and with it the lock, is gone with the connection


@dataclass(frozen=True)
class State:
    """What a version is solved from."""

    scenario_id: int
    parent_id: int | None  # newest published version
    through: int | None  # newest recorded zone change

    @property
    def key(self) -> str:
        return f"{self.parent_id}:{self.through}"


def current_state(engine: Engine, scenario_id: int) -> State:
    with engine.connect() as conn:
        through = conn.execute(
            sa.select(sa.func.max(ZONE_CHANGE.c.id)).where(ZONE_CHANGE.c.scenario_id == scenario_id)
        ).scalar()
    return State(scenario_id, versions.newest_published(engine, scenario_id), through)


def solve_state(
    engine: Engine,
    state: State,
    *,
    cause: str,
    seed: int,
    input_key: str,
    limits: SolverLimits,
    targets: list[tuple[str, str]] | None = None,
) -> int:
    """The draft version of `state` under `input_key`: found if stored already, else solved, validated and stored.

    With `targets` (the (scope, target id) of the zone changes since the parent), only their
    communities are re-solved when that gives a valid schedule serving as many as the parent.
    """
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(VERSION.c.id).where(VERSION.c.scenario_id == state.scenario_id, VERSION.c.input_key == input_key)
        ).scalar()
    if found is not None:
        return int(found)
    scenario = _cache.load_scenario(engine, state.scenario_id, zone_changes_through=state.through)
    previous = _cache.load_schedule(engine, state.parent_id, scenario) if state.parent_id is not None else None
    schedule = partial_resolve(scenario, previous, targets, limits) if previous is not None and targets else None
    if schedule is None:
        # A what-if fork's first solve stays close to its parent's published schedule (store.whatif.start_from).
        start = previous if previous is not None else whatif.start_from(engine, state.scenario_id, scenario)
        schedule = solve_schedule(scenario, previous=start, limits=limits)
        report = validate(scenario, schedule)
        if not report.ok:
            raise InvalidSchedule(
                f"the solver's schedule violates rule(s) {', '.join(report.violated())}:\n{report.text()}"
            )
    return versions.save_draft(
        engine,
        state.scenario_id,
        schedule,
        cause=cause,
        parent_id=state.parent_id,
        seed=seed,
        input_key=input_key,
        zone_change_through=state.through,
        scenario=scenario,
        cache=_cache,
        previous=previous,
    )


def partial_resolve(
    scenario: Scenario, previous: Schedule, targets: list[tuple[str, str]], limits: SolverLimits
) -> Schedule | None:
    """The re-solve of only the targets' communities, validated; None (logged) when the whole scenario must be solved.

    The whole scenario is solved instead when the targets cover every community (the partial
    re-solve would be that solve), or when the partial re-solve fails, breaks a rule, or leaves
    more residents unserved than `previous` (the whole solve may move shared staff).
    """
    try:
        communities = {community_of_target(scenario, scope, target) for scope, target in targets}
        if len(communities) == len(scenario.communities):
            log.info("the changes touch every community: solving the whole scenario")
            return None
        schedule = resolve_communities(scenario, previous, communities, limits=limits)
    except Exception:
        log.exception("partial re-solve failed; solving the whole scenario")
        return None
    report = validate(scenario, schedule)
    if not report.ok:
        log.error(
            "partial re-solve violates rule(s) %s; solving the whole scenario:\n%s",
            ", ".join(report.violated()),
            report.text(),
        )
        return None
    if len(schedule.unserved) > len(previous.unserved):
        log.info(
            "partial re-solve leaves %d unserved (was %d); solving the whole scenario",
            len(schedule.unserved),
            len(previous.unserved),
        )
        return None
    log.info(
        "partial re-solve of %s: %d changed visits",
        ", ".join(schedule.kpis["resolved_communities"]),
        schedule.kpis["objective"]["changed_visits"],
    )
    return schedule


# --- jobs ----------------------------------------------------------------------------------------


def set_job(engine: Engine, job_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(JOB.update().where(JOB.c.id == job_id).values(updated_at=utcnow(), **values))


def _job(engine: Engine, job_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(JOB).where(JOB.c.id == job_id)).mappings().one_or_none()
    return dict(row) if row is not None else None


def run_solve_job(engine: Engine, job_id: int, limits: SolverLimits) -> str:
    """A requested solve: solve the scenario's current state and publish it."""
    job = _job(engine, job_id)
    if job is None or job["status"] in ("done", "failed"):
        return STALE
    with scenario_lock(engine, job["scenario_id"]) as held:
        if not held:
            return BUSY
        set_job(engine, job_id, status="running")
        state = current_state(engine, job["scenario_id"])
        limits = SolverLimits(seed=job["seed"], time_limit_s=limits.time_limit_s, workers=limits.workers)
        version_id = solve_state(
            engine, state, cause=job["cause"], seed=job["seed"], input_key=f"job {job_id}:{state.key}", limits=limits
        )
        versions.publish(engine, version_id, only_if_newest=True)
        set_job(engine, job_id, status="done", version_id=version_id, error=None)
    log.info("job %d: scenario %d published version %d", job_id, job["scenario_id"], version_id)
    return DONE


def _change(conn: Connection, change_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(ZONE_CHANGE).where(ZONE_CHANGE.c.id == change_id)).mappings().one_or_none()
    return dict(row) if row is not None else None


def _newest_pending(conn: Connection, scenario_id: int) -> int | None:
    return conn.execute(
        sa.select(sa.func.max(ZONE_CHANGE.c.id)).where(
            ZONE_CHANGE.c.scenario_id == scenario_id, ZONE_CHANGE.c.applied_version_id.is_(None)
        )
    ).scalar()


def apply_zone_change(engine: Engine, change_id: int, limits: SolverLimits) -> str:
    """Re-solve after a zone change, with every change recorded so far, and publish the result.

    A change already applied is stale; a change with a newer pending one is left to that one's
    message (bursts coalesce into the re-solve of the newest change).
    """
    with engine.connect() as conn:
        change = _change(conn, change_id)
        if change is None or change["applied_version_id"] is not None:
            return STALE
        scenario_id = change["scenario_id"]
        if (_newest_pending(conn, scenario_id) or 0) > change_id:
            return COALESCED
    with scenario_lock(engine, scenario_id) as held:
        if not held:
            return BUSY
        # The state first: the pending changes read next then include every change it solves (their targets).
        state = current_state(engine, scenario_id)
        with engine.connect() as conn:
            change = _change(conn, change_id)
            if change is None or change["applied_version_id"] is not None:
                return STALE  # applied by the re-solve that held the lock
            pending = conn.execute(
                sa.select(ZONE_CHANGE.c.level, ZONE_CHANGE.c.scope, ZONE_CHANGE.c.target_id)
                .where(ZONE_CHANGE.c.scenario_id == scenario_id, ZONE_CHANGE.c.applied_version_id.is_(None))
                .order_by(ZONE_CHANGE.c.id)
            ).all()
        level, scope, target = pending[-1]
        cause = f"zone change: {scope} {target} {level}" + (
            f" (and {len(pending) - 1} more)" if len(pending) > 1 else ""
        )
        job_id = _resolve_job(engine, scenario_id, cause)
        version_id = solve_state(
            engine,
            state,
            cause=cause,
            seed=limits.seed,
            input_key=f"zones {state.key}",
            limits=replace(limits, route_search=RESOLVE_ROUTE_SEARCH),
            targets=[(scope, target) for _, scope, target in pending],
        )
        versions.publish(engine, version_id, only_if_newest=True)
        set_job(engine, job_id, status="done", version_id=version_id, error=None)
    log.info("zone change %d: scenario %d published version %d", change_id, scenario_id, version_id)
    return DONE


def _resolve_job(engine: Engine, scenario_id: int, cause: str) -> int:
    """The job row of a re-solve: a new one, or the one a killed worker left running (the lock is ours now)."""
    with engine.begin() as conn:
        orphan = conn.execute(
            sa.select(JOB.c.id).where(
                JOB.c.scenario_id == scenario_id, JOB.c.kind == "resolve", JOB.c.status == "running"
            )
        ).scalar()
        if orphan is not None:
            conn.execute(JOB.update().where(JOB.c.id == orphan).values(cause=cause, updated_at=utcnow()))
            return int(orphan)
        now = utcnow()
        return int(
            conn.execute(
                JOB.insert()
                .values(
                    kind="resolve",
                    scenario_id=scenario_id,
                    status="running",
                    cause=cause,
                    seed=0,
                    created_at=now,
                    updated_at=now,
                    enqueued_at=now,
                )
                .returning(JOB.c.id)
            ).scalar_one()
        )


def running_resolve_job(engine: Engine, change_id: int) -> int | None:
    """The running re-solve job of a change's scenario, to mark failed when the re-solve fails."""
    with engine.connect() as conn:
        change = _change(conn, change_id)
        if change is None:
            return None
        return conn.execute(
            sa.select(JOB.c.id).where(
                JOB.c.scenario_id == change["scenario_id"], JOB.c.kind == "resolve", JOB.c.status == "running"
            )
        ).scalar()
