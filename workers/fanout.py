"""Fan-out of a large solve: one message per part of the scenario, and a join that publishes once.

A solve job of a scenario with at least FANOUT_MIN_RESIDENTS residents is cut into
round(residents / FANOUT_PART_RESIDENTS) parts (at least 2) by `scheduler.partition`. The job's
message writes one `solve_part` row per part (the input state every part solves: parent and
zone changes) and sends `schedule.solve_part(row id)` for each; any worker process, on any
machine sharing Redis and the database, solves one part (one process, seeded: the partition
and each part's schedule depend on the stored scenario only) and stores its schedule in its
row (compressed arrays). Finishing a part locks the job row, so exactly one part sees that
none is left unsolved and sends `schedule.join(job id)`; a redelivered part whose row is
solved already sends the join again if all are (the join is idempotent). The join, under the
scenario's solve lock, merges the parts, validates the whole schedule (`scheduler.validate`),
saves the draft under the job's input key and publishes it only while its parent is still
the newest: one version per input state, as for a solve in one piece. A join that finds the
scenario moved on (a zone change since the fan-out) fans the job out again for the new state.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from dataclasses import replace
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from scheduler.domain import Scenario
from scheduler.limits import SolverLimits
from scheduler.partition import Partition, merge, partition, solve_part
from scheduler.schedule import ROSTER_DTYPES, ROUTE_DTYPES, Roster, Routes, Schedule, Unserved
from scheduler.validate import validate
from store import versions
from store.models import utcnow
from store.settings import get_settings
from store.whatif import ledger_scenario_id, start_from
from workers.relay import JOB, send
from workers.solving import BUSY, DONE, STALE, VERSION, InvalidSchedule, State, current_state, scenario_lock, set_job

log = logging.getLogger(__name__)

SOLVE_PART = "schedule.solve_part"  # args: solve_part row id
JOIN = "schedule.join"  # args: job id
FANNED = "fanned out"
SOLVE_PART_TABLE = SQLModel.metadata.tables["solve_part"]
RESIDENT = versions.RESIDENT
BUILDING = versions.BUILDING
_loaded: dict[tuple[str, Any], tuple[Scenario, Schedule | None, Partition]] = {}  # see `_inputs`
_loaded_guard = threading.Lock()


class BrokerUnavailable(RuntimeError):
    """A part's or the join's message could not be sent: the message in hand is retried."""


def parts_for(residents: int) -> int:
    """How many parts a solve of `residents` is cut into: 1 (no fan-out) below FANOUT_MIN_RESIDENTS."""
    settings = get_settings()
    if residents < settings.fanout_min_residents:
        return 1
    return max(2, round(residents / settings.fanout_part_residents))


def _job(conn: sa.Connection, job_id: int, *, lock: bool = False) -> dict[str, Any] | None:
    query = sa.select(JOB).where(JOB.c.id == job_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().one_or_none()
    return dict(row) if row is not None else None


def _send(actor_name: str, row_id: int) -> None:
    if not send(actor_name, row_id):
        raise BrokerUnavailable(f"could not send {actor_name}({row_id})")


def fan_out_job(engine: Engine, job_id: int) -> str | None:
    """Fan a solve job out into parts (FANNED), or None when the scenario is small enough for one solve.

    Idempotent: a redelivered message finds the parts of the current state written and sends
    the unsolved ones (or the join, all being solved) again.
    """
    with engine.connect() as conn:
        job = _job(conn, job_id)
        if job is None or job["status"] in ("done", "failed") or job["kind"] != "solve":
            return None
        ledger = ledger_scenario_id(conn, job["scenario_id"])  # a fork: its ledger's rows
        residents = conn.execute(
            sa.select(sa.func.count()).select_from(RESIDENT).where(RESIDENT.c.scenario_id == ledger)
        ).scalar_one()
        communities = conn.execute(
            sa.select(sa.func.count(sa.distinct(BUILDING.c.community_id))).where(BUILDING.c.scenario_id == ledger)
        ).scalar_one()
    # A part is whole communities: no more parts than communities (`scheduler.partition` cuts no finer).
    parts = min(parts_for(residents), communities)
    if parts < 2:
        return None
    with scenario_lock(engine, job["scenario_id"]) as held:
        if not held:
            return BUSY
        _write_parts(engine, job_id, current_state(engine, job["scenario_id"]), parts)
    return FANNED


def _write_parts(engine: Engine, job_id: int, state: State, parts: int) -> None:
    """The job's part rows for `state` (kept if written already, else replacing older ones); send what is left."""
    input_key = f"job {job_id}:{state.key}"
    table = SOLVE_PART_TABLE
    with engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn, conn.begin():
        _job(conn, job_id, lock=True)
        written = conn.execute(sa.select(table.c.input_key).where(table.c.job_id == job_id).limit(1)).scalar()
        if written != input_key:
            conn.execute(table.delete().where(table.c.job_id == job_id))
            now = utcnow()
            conn.execute(
                table.insert(),
                [
                    dict(
                        job_id=job_id,
                        part=k,
                        parts=parts,
                        parent_id=state.parent_id,
                        zone_change_through=state.through,
                        input_key=input_key,
                        created_at=now,
                    )
                    for k in range(parts)
                ],
            )
        conn.execute(JOB.update().where(JOB.c.id == job_id).values(status="running", updated_at=utcnow()))
        unsolved = conn.scalars(
            sa.select(table.c.id).where(table.c.job_id == job_id, table.c.payload.is_(None)).order_by(table.c.part)
        ).all()
    for part_id in unsolved:
        _send(SOLVE_PART, part_id)
    if not unsolved:
        _send(JOIN, job_id)
    log.info("job %d: %d of %d parts sent (%s)", job_id, len(unsolved), parts, input_key)


def _inputs(engine: Engine, scenario_id: int, row: Any) -> tuple[Scenario, Schedule | None, Partition]:
    """The scenario, starting schedule and partition a fan-out's parts solve (a part row says which).

    The start is the parent version's schedule; a what-if fork without a version of its own starts from
    its nearest ancestor's newest published one (`store.whatif.start_from`, as `workers.solving.solve_state`).

    A process keeps the last ones it loaded (≈6 s for a district), so the next part or the join of
    the same fan-out (same input key, same instant of fanning out) reuses them; they are only read.
    """
    key = (row["input_key"], row["created_at"])
    with _loaded_guard:
        if key not in _loaded:
            _loaded.clear()
            scenario = versions.load_scenario(engine, scenario_id, zone_changes_through=row["zone_change_through"])
            parent = row["parent_id"]
            # A what-if fork's first solve stays close to its parent's published schedule, as in one piece.
            previous = (
                versions.load_schedule(engine, parent, scenario)
                if parent is not None
                else start_from(engine, scenario_id, scenario)
            )
            _loaded[key] = (scenario, previous, partition(scenario, row["parts"], previous=previous))
        return _loaded[key]


def job_of_part(engine: Engine, part_id: int) -> int | None:
    """The job of a part row (to mark failed when the part fails)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(SOLVE_PART_TABLE.c.job_id).where(SOLVE_PART_TABLE.c.id == part_id)).scalar()


def run_part(engine: Engine, part_id: int, limits: SolverLimits) -> str:
    """Solve one part and store its schedule; the part that completes the set sends the join."""
    table = SOLVE_PART_TABLE
    with engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == part_id)).mappings().one_or_none()
        job = _job(conn, row["job_id"]) if row is not None else None
    if row is None or job is None or job["status"] in ("done", "failed"):
        return STALE
    if row["payload"] is None:
        scenario, previous, cut = _inputs(engine, job["scenario_id"], row)
        part_limits = replace(limits, seed=job["seed"], processes=1)
        payload = pack(solve_part(scenario, cut, row["part"], previous=previous, limits=part_limits))
    with engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn, conn.begin():
        _job(conn, row["job_id"], lock=True)  # finishing parts of one job take turns: one of them sees none left
        if row["payload"] is None:
            stored = conn.execute(
                table.update()
                .where(table.c.id == part_id, table.c.input_key == row["input_key"], table.c.payload.is_(None))
                .values(payload=payload, solved_at=utcnow())
            ).rowcount
            if not stored and conn.execute(sa.select(table.c.id).where(table.c.id == part_id)).scalar() is None:
                return STALE  # the job was fanned out again for a newer state
        left = conn.execute(
            sa.select(sa.func.count()).where(table.c.job_id == row["job_id"], table.c.payload.is_(None))
        ).scalar_one()
    log.info("job %d: part %d of %d solved, %d left", row["job_id"], row["part"], row["parts"], left)
    if left == 0:
        _send(JOIN, row["job_id"])
    return DONE


def run_join(engine: Engine, job_id: int, limits: SolverLimits) -> str:
    """Merge the solved parts, validate, save the draft once and publish it once."""
    table = SOLVE_PART_TABLE
    with engine.connect() as conn:
        job = _job(conn, job_id)
    if job is None or job["status"] in ("done", "failed"):
        return STALE
    scenario_id = job["scenario_id"]
    with scenario_lock(engine, scenario_id) as held:
        if not held:
            return BUSY
        with engine.connect() as conn:
            rows = (
                conn.execute(sa.select(table).where(table.c.job_id == job_id).order_by(table.c.part)).mappings().all()
            )
        if not rows or any(row["payload"] is None for row in rows):
            return STALE  # the last part to finish sends the join again
        with engine.connect() as conn:
            # Killed after publishing but before the job was marked done: the redelivered join finishes
            # the bookkeeping; it must not take its own version for a move of the scenario and solve again.
            published = conn.execute(
                sa.select(VERSION.c.id).where(
                    VERSION.c.scenario_id == scenario_id,
                    VERSION.c.status == "published",
                    VERSION.c.input_key.startswith(f"job {job_id}:", autoescape=True),
                )
            ).scalar()
        if published is not None:
            _finish(engine, job_id, published)
            return DONE
        state = current_state(engine, scenario_id)
        input_key = f"job {job_id}:{state.key}"
        if rows[0]["input_key"] != input_key:
            log.info("job %d: the scenario moved on since the fan-out; fanning out again", job_id)
            _write_parts(engine, job_id, state, rows[0]["parts"])
            return FANNED
        with engine.connect() as conn:
            version_id = conn.execute(
                sa.select(VERSION.c.id).where(VERSION.c.scenario_id == scenario_id, VERSION.c.input_key == input_key)
            ).scalar()
        if version_id is None:
            version_id = _save_merged(engine, job, state, input_key, rows)
        versions.publish(engine, version_id, only_if_newest=True)
        _finish(engine, job_id, version_id)
    log.info("job %d: scenario %d published version %d from %d parts", job_id, scenario_id, version_id, len(rows))
    return DONE


def _finish(engine: Engine, job_id: int, version_id: int) -> None:
    """The job done with its version; the parts' bytes are in the version now."""
    set_job(engine, job_id, status="done", version_id=version_id, error=None)
    with engine.begin() as conn:
        conn.execute(SOLVE_PART_TABLE.delete().where(SOLVE_PART_TABLE.c.job_id == job_id))


def _save_merged(engine: Engine, job: dict[str, Any], state: State, input_key: str, rows: Any) -> int:
    scenario, previous, cut = _inputs(engine, state.scenario_id, rows[0])
    fanned_at = min(row["created_at"] for row in rows)
    now = utcnow()
    seconds = (now - (fanned_at if fanned_at.tzinfo else fanned_at.replace(tzinfo=now.tzinfo))).total_seconds()
    merged = merge(scenario, cut, [unpack(row["payload"]) for row in rows], previous=previous, solve_seconds=seconds)
    report = validate(scenario, merged)
    if not report.ok:
        raise InvalidSchedule(f"the merged schedule violates rule(s) {', '.join(report.violated())}:\n{report.text()}")
    return versions.save_draft(
        engine,
        state.scenario_id,
        merged,
        cause=job["cause"],
        parent_id=state.parent_id,
        seed=job["seed"],
        input_key=input_key,
        zone_change_through=state.through,
        scenario=scenario,
    )


# --- a part's schedule as bytes ------------------------------------------------------------------

_VISITS = ("mode", "point", "team", "start", "end")
_ROSTER = ("worker", "point", "team", "role", "start", "end")
_ROUTES = ("team", "seq", "household", "arrive", "depart")


def pack(schedule: Schedule) -> bytes:
    """A part's schedule as compressed numpy arrays (`unpack` reverses it)."""
    arrays = {f"visit_{name}": getattr(schedule, name) for name in _VISITS}
    arrays |= {f"roster_{name}": getattr(schedule.roster, name) for name in _ROSTER}
    arrays |= {f"routes_{name}": getattr(schedule.routes, name) for name in _ROUTES}
    meta = {
        "teams": schedule.teams,
        "unserved": [[u.resident, u.reason, u.detail] for u in schedule.unserved],
        "kpis": schedule.kpis,
        "has_roster": schedule.has_roster,
        "points_staffed": schedule.points_staffed,
    }
    text = json.dumps(meta, default=lambda value: value.item() if isinstance(value, np.generic) else str(value))
    arrays["meta"] = np.frombuffer(text.encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()


def unpack(payload: bytes) -> Schedule:
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes().decode())
        return Schedule(
            **{name: data[f"visit_{name}"] for name in _VISITS},
            teams=meta["teams"],
            roster=Roster(*(data[f"roster_{n}"].astype(d) for n, d in zip(_ROSTER, ROSTER_DTYPES, strict=True))),
            routes=Routes(*(data[f"routes_{n}"].astype(d) for n, d in zip(_ROUTES, ROUTE_DTYPES, strict=True))),
            unserved=[Unserved(int(r), reason, detail) for r, reason, detail in meta["unserved"]],
            kpis=meta["kpis"],
            has_roster=meta["has_roster"],
            points_staffed=meta["points_staffed"],
        )
