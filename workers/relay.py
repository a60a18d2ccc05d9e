"""Sending messages, and the relay that sends what could not be sent (Redis down) once it can.

Messages are built by actor name on the current broker, so this module needs no actor and the
broker can add the relay before the actors are declared.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import dramatiq
import sqlalchemy as sa
from dramatiq.middleware import Middleware
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from store.models import utcnow

log = logging.getLogger(__name__)

SOLVE = "schedule.solve"  # args: job id
APPLY_ZONE_CHANGES = "zones.apply"  # args: zone change id
QUEUE = "default"
RELAY_EVERY_S = 2.0
RELAY_AFTER_S = 2.0  # rows younger than this are still being sent by whoever wrote them
# A row sent this long ago and still waiting is sent again: Redis may have lost the message
# (a restart without persistence). A duplicate is harmless: the actors are idempotent.
RESEND_AFTER_S = 60.0

JOB = SQLModel.metadata.tables["job"]
ZONE_CHANGE = SQLModel.metadata.tables["zone_change"]


def send(actor_name: str, row_id: int, *, delay: int | None = None) -> bool:
    """Enqueue `actor_name(row_id)`; False (logged, not raised) when the broker cannot be reached."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=QUEUE, actor_name=actor_name, args=(row_id,), kwargs={}, options={}
    )
    try:
        dramatiq.get_broker().enqueue(message, delay=delay)
    except Exception as exc:  # Redis down or unreachable: the relay sends it later
        log.warning("could not enqueue %s(%d); the relay will: %s", actor_name, row_id, exc)
        return False
    return True


def mark_enqueued(engine: Engine, table: sa.Table, row_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == row_id).values(enqueued_at=utcnow()))


def relay(engine: Engine, *, older_than_s: float = RELAY_AFTER_S, resend_after_s: float = RESEND_AFTER_S) -> int:
    """Send every queued job and pending zone change never enqueued, or enqueued long ago; return how many."""
    now = utcnow()
    created_before, enqueued_before = now - timedelta(seconds=older_than_s), now - timedelta(seconds=resend_after_s)

    def waiting(table: sa.Table) -> sa.ColumnElement[bool]:
        return sa.or_(
            sa.and_(table.c.enqueued_at.is_(None), table.c.created_at <= created_before),
            table.c.enqueued_at <= enqueued_before,
        )

    with engine.connect() as conn:
        jobs = conn.scalars(sa.select(JOB.c.id).where(JOB.c.status == "queued", waiting(JOB)).order_by(JOB.c.id)).all()
        changes = conn.scalars(
            sa.select(ZONE_CHANGE.c.id)
            .where(ZONE_CHANGE.c.applied_version_id.is_(None), waiting(ZONE_CHANGE))
            .order_by(ZONE_CHANGE.c.id)
        ).all()
    sent = 0
    for table, actor_name, ids in ((JOB, SOLVE, jobs), (ZONE_CHANGE, APPLY_ZONE_CHANGES, changes)):
        for row_id in ids:
            if not send(actor_name, row_id):
                return sent  # the broker is still away: next round
            mark_enqueued(engine, table, row_id)
            sent += 1
    if sent:
        log.info("relay: sent %d message(s) again or for the first time", sent)
    return sent


class Relay(Middleware):
    """Runs `relay` every RELAY_EVERY_S seconds in each worker process, from boot to shutdown."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.stopping.clear()
        self.thread = threading.Thread(target=self._loop, name="relay", daemon=True)
        self.thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=RELAY_EVERY_S * 2)

    def _loop(self) -> None:
        from workers.db import get_engine

        while not self.stopping.wait(RELAY_EVERY_S):
            try:
                relay(get_engine())
            except Exception:  # the database may be away too: next round
                log.exception("relay failed")
