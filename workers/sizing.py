"""Staff sizing in the workers: a planner's "how many to call in to finish within N hours?" as a job.

`workers.jobs.request_sizing` writes a job row (kind `sizing`, its hours and seed) and sends
`schedule.size(job id)`; the worker reloads the scenario (a what-if fork too, through
`store.versions.load_scenario`), runs `scheduler.sizing.size_staff` and stores its figures
(`Sizing.figures()`: the workers to call in, the bottleneck, the verification) in the job's
`result`, setting it done in the same statement. A sizing only reads the scenario: it takes no
scenario lock and publishes nothing. A message for a job already done or failed does nothing, so a
redelivered message does not size twice; a worker killed mid-sizing leaves the job running and
its message unacknowledged, and the redelivered message sizes it (same scenario and seed, same
answer). Each CP-SAT stage stops at SOLVER_TIME_LIMIT_S, the whole actor at SOLVE_TIME_LIMIT_S.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scheduler.limits import SolverLimits
from scheduler.sizing import size_staff
from store import versions
from store.models import utcnow
from workers.relay import JOB
from workers.solving import DONE, STALE, set_job

log = logging.getLogger(__name__)

SIZE = "schedule.size"  # args: job id
SIZING = "sizing"  # the job's kind


def run_sizing_job(engine: Engine, job_id: int, limits: SolverLimits) -> str | None:
    """Size the job's scenario and store the answer on the job; None when the job is not a sizing."""
    with engine.connect() as conn:
        job = conn.execute(sa.select(JOB).where(JOB.c.id == job_id)).mappings().one_or_none()
    if job is None or job["kind"] != SIZING:
        return None
    if job["status"] in ("done", "failed"):
        return STALE
    set_job(engine, job_id, status="running")
    scenario = versions.load_scenario(engine, job["scenario_id"])
    # The worker's limits (one process: a worker process is one solver; the answer does not depend on it).
    sizing = size_staff(scenario, job["hours"], limits=replace(limits, seed=job["seed"]))
    with engine.begin() as conn:
        conn.execute(
            JOB.update()
            .where(JOB.c.id == job_id, JOB.c.status != "done")
            .values(status="done", result=sizing.figures(), error=None, updated_at=utcnow())
        )
    log.info(
        "job %d: scenario %d sized for %g h: %d workers to call in",
        job_id,
        job["scenario_id"],
        job["hours"],
        sizing.added,
    )
    return DONE
