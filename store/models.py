"""SQLModel tables.

Conventions:
- every table hangs off `scenario` with ON DELETE CASCADE, directly or through `schedule_version`;
- the big tables (building, resident, point, worker, visit, duty, route_stop) have scenario- or
  version-scoped natural composite primary keys and no per-row surrogate key;
- ids from the ledgers are kept as written (text); an optional reference that is not set is NULL;
- `resident.flags` and `worker.skills` are int bitmasks over `scheduler.domain.FLAGS` / `SKILLS`
  (bit i = i-th name), as in the domain arrays. The order of those tuples is therefore part of the
  stored format: extend them only at the end;
- id numbers and phones are never stored: only the keyed hashes of `scheduler.privacy`;
- opening hours (`point.hours`, `worker.available`) are kept as the text the person wrote;
- ledger times (round start, visits, duties, routes) are naive local date-times, as in the
  contract; audit times (`created_at`, ...) are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Deterministic constraint names, so that migrations can name what they alter or drop.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = sa.String()  # ledger ids: text, no length limit (SQLite would not enforce one anyway)
HASH = sa.String()  # hex keyed hashes
TEXT = sa.Text()
LOCAL_TIME = sa.DateTime(timezone=False)
AUDIT_TIME = sa.DateTime(timezone=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _scenario_fk(primary_key: bool = True) -> Any:
    return Field(foreign_key="scenario.id", ondelete="CASCADE", primary_key=primary_key)


def _version_fk() -> Any:
    return Field(foreign_key="schedule_version.id", ondelete="CASCADE", primary_key=True)


# --- scenario --------------------------------------------------------------------------------


class ScenarioBase(SQLModel):
    """The keys of `scenario.toml` (`scheduler.domain.RoundSettings`), same names and units."""

    name: str = Field(sa_type=TEXT)
    start: datetime = Field(sa_type=LOCAL_TIME)
    days: int
    slot_minutes: int
    desk_rate_per_hour: int
    doorstep_minutes_per_household: int
    walk_speed_m_per_min: int
    max_walk_m: int
    max_shift_hours: float
    min_break_minutes: int
    max_day_hours: float
    order_keepers_per_desk: float


class Scenario(ScenarioBase, table=True):
    """One imported ledger (one screening round for one area)."""

    id: int | None = Field(default=None, primary_key=True)
    # Digest of the ledger's content: importing the same ledger twice finds this row.
    ledger_digest: str = Field(sa_type=sa.String(), unique=True)
    warnings: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AUDIT_TIME)


class ScenarioPublic(ScenarioBase):
    id: int
    ledger_digest: str
    created_at: datetime


class ScenarioSummary(ScenarioPublic):
    """A scenario with the counts a coordinator checks after an import."""

    warnings: list[str]
    counts: dict[str, int]


# --- the ledger tables -----------------------------------------------------------------------


class Building(SQLModel, table=True):
    scenario_id: int = _scenario_fk()
    building_id: str = Field(sa_type=ID, primary_key=True)
    community_id: str = Field(sa_type=ID)
    compound_id: str = Field(sa_type=ID)
    lat: float
    lon: float
    floors: int | None = Field(default=None, sa_type=sa.SmallInteger)


class Resident(SQLModel, table=True):
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["scenario_id", "building_id"],
            ["building.scenario_id", "building.building_id"],
            ondelete="CASCADE",
        ),
        # Residents of a building (zone changes), and the cascade when a building row goes.
        sa.Index(None, "scenario_id", "building_id"),
    )

    scenario_id: int = _scenario_fk()
    resident_id: str = Field(sa_type=ID, primary_key=True)
    household_id: str = Field(sa_type=ID)
    building_id: str = Field(sa_type=ID)
    birth_year: int | None = Field(default=None, sa_type=sa.SmallInteger)
    flags: int = Field(default=0, sa_type=sa.SmallInteger)  # bitmask over scheduler.domain.FLAGS
    id_hash: str | None = Field(default=None, sa_type=HASH, index=True)
    phone_hash: str | None = Field(default=None, sa_type=HASH)
    phone_tail_hash: str | None = Field(default=None, sa_type=HASH, index=True)  # the resident look-up's key


class Point(SQLModel, table=True):
    scenario_id: int = _scenario_fk()
    point_id: str = Field(sa_type=ID, primary_key=True)
    name: str = Field(default="", sa_type=TEXT)
    community_id: str | None = Field(default=None, sa_type=ID)  # NULL: public point
    compound_id: str | None = Field(default=None, sa_type=ID)  # set: in-compound point
    lat: float
    lon: float
    desks: int
    hours: str = Field(sa_type=TEXT)  # as written in the ledger
    accessible: bool = False


class Worker(SQLModel, table=True):
    scenario_id: int = _scenario_fk()
    worker_id: str = Field(sa_type=ID, primary_key=True)
    name: str = Field(default="", sa_type=TEXT)
    kind: str = Field(sa_type=sa.String(16))  # one of scheduler.domain.KINDS
    skills: int = Field(sa_type=sa.SmallInteger)  # bitmask over scheduler.domain.SKILLS
    community_id: str | None = Field(default=None, sa_type=ID)  # NULL: may serve anywhere
    available: str = Field(sa_type=TEXT)  # as written in the ledger


class Zone(SQLModel, table=True):
    """One row of `zones.csv`; `seq` is its row number (zones have no id of their own)."""

    scenario_id: int = _scenario_fk()
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    level: str = Field(sa_type=sa.String(16))  # sealed / controlled / precaution
    scope: str = Field(sa_type=sa.String(16))  # community / compound / building
    target_id: str = Field(sa_type=ID)


# --- schedules (written by the workers) ------------------------------------------------------


class ScheduleVersion(SQLModel, table=True):
    """One schedule of a scenario: a draft, then published; never overwritten."""

    __tablename__ = "schedule_version"
    __table_args__ = (
        sa.CheckConstraint("status IN ('draft', 'published')", name="status"),
        sa.Index(None, "scenario_id", "status", "published_at"),
        # One version per input state (see `store.versions.save_draft`); NULL keys never clash.
        sa.UniqueConstraint("scenario_id", "input_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scenario_id: int = Field(foreign_key="scenario.id", ondelete="CASCADE")
    parent_id: int | None = Field(default=None, foreign_key="schedule_version.id", ondelete="SET NULL")
    status: str = Field(default="draft", sa_type=sa.String(16))
    cause: str = Field(sa_type=TEXT)  # initial solve, zone change, what-if ...
    seed: int = 0
    kpis: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AUDIT_TIME)
    published_at: datetime | None = Field(default=None, sa_type=AUDIT_TIME)
    # What the version was solved from (e.g. parent and zone changes), so a redelivered job finds it.
    input_key: str | None = Field(default=None, sa_type=TEXT)
    # The newest zone change its scenario included; publishing marks the changes up to it applied.
    zone_change_through: int | None = None
    changed_visits: int | None = None  # residents whose visit differs from the parent's
    has_roster: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})  # False: no roster file


class Visit(SQLModel, table=True):
    """A row of `assignments.csv`; the primary key is also the look-up of one resident's visit."""

    __table_args__ = (sa.CheckConstraint("mode IN ('point', 'doorstep')", name="mode"),)

    version_id: int = _version_fk()
    resident_id: str = Field(sa_type=ID, primary_key=True)
    mode: str = Field(sa_type=sa.String(16))
    point_id: str | None = Field(default=None, sa_type=ID)
    team_id: str | None = Field(default=None, sa_type=ID)
    start: datetime = Field(sa_type=LOCAL_TIME)
    end: datetime = Field(sa_type=LOCAL_TIME)


class Duty(SQLModel, table=True):
    """A row of `roster.csv`; one worker is at one place at a time, so (worker, start) is a key."""

    version_id: int = _version_fk()
    worker_id: str = Field(sa_type=ID, primary_key=True)
    start: datetime = Field(sa_type=LOCAL_TIME, primary_key=True)
    end: datetime = Field(sa_type=LOCAL_TIME)
    place: str = Field(sa_type=ID)  # a point_id or a team_id
    role: str = Field(sa_type=sa.String(16))


class RouteStop(SQLModel, table=True):
    """A row of `routes.csv`."""

    __tablename__ = "route_stop"

    version_id: int = _version_fk()
    team_id: str = Field(sa_type=ID, primary_key=True)
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    household_id: str = Field(sa_type=ID)
    arrive: datetime = Field(sa_type=LOCAL_TIME)
    depart: datetime = Field(sa_type=LOCAL_TIME)


class ZoneChange(SQLModel, table=True):
    """A zone change as a coordinator entered it: written first, then enqueued, then applied."""

    __tablename__ = "zone_change"
    __table_args__ = (sa.Index(None, "scenario_id", "applied_version_id"),)

    id: int | None = Field(default=None, primary_key=True)
    scenario_id: int = Field(foreign_key="scenario.id", ondelete="CASCADE")
    level: str = Field(sa_type=sa.String(16))  # sealed / controlled / precaution / normal (lifted)
    scope: str = Field(sa_type=sa.String(16))
    target_id: str = Field(sa_type=ID)
    effective_at: datetime = Field(sa_type=LOCAL_TIME)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AUDIT_TIME)
    enqueued_at: datetime | None = Field(default=None, sa_type=AUDIT_TIME)
    applied_version_id: int | None = Field(default=None, foreign_key="schedule_version.id", ondelete="SET NULL")


class Job(SQLModel, table=True):
    """A requested solve or staff sizing, as the API reports it: queued, running, done (with its version, or
    the sizing's answer in `result`) or failed."""

    __table_args__ = (
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        sa.Index(None, "scenario_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=sa.String(16))  # solve (requested), resolve (after zone changes) or sizing
    scenario_id: int = Field(foreign_key="scenario.id", ondelete="CASCADE")
    status: str = Field(default="queued", sa_type=sa.String(16))
    cause: str = Field(default="", sa_type=TEXT)
    seed: int = 0
    version_id: int | None = Field(default=None, foreign_key="schedule_version.id", ondelete="SET NULL")
    error: str | None = Field(default=None, sa_type=TEXT)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AUDIT_TIME)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=AUDIT_TIME)
    enqueued_at: datetime | None = Field(default=None, sa_type=AUDIT_TIME)  # NULL: the relay sends it
    hours: float | None = None  # sizing: finish within this many hours of the round's start
    result: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)  # sizing: `Sizing.figures()` once done


# --- planners' what-if scenarios (store/whatif.py) ----------------------------------------------


class ScenarioFork(SQLModel, table=True):
    """A what-if scenario: its parent plus its changes. It has no ledger rows of its own (they are the ledger's)."""

    __tablename__ = "scenario_fork"

    scenario_id: int = _scenario_fk()
    parent_id: int = Field(foreign_key="scenario.id", ondelete="CASCADE", index=True)
    # The imported scenario whose ledger tables the chain of forks reads (the parent's, or its ledger).
    ledger_scenario_id: int = Field(foreign_key="scenario.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=AUDIT_TIME)


class ScenarioChange(SQLModel, table=True):
    """One change of a what-if scenario (`scheduler.whatif`), applied in `seq` order."""

    __tablename__ = "scenario_change"

    scenario_id: int = _scenario_fk()
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(sa_type=sa.String(32))  # a key of scheduler.whatif.KINDS_OF_CHANGE
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)  # the change's fields
    created_at: datetime = Field(default_factory=utcnow, sa_type=AUDIT_TIME)


# --- API access (api/) ------------------------------------------------------------------------


class ApiToken(SQLModel, table=True):
    """A bearer token of the API. Only its SHA-256 is kept: the token is shown once, when created."""

    __tablename__ = "api_token"
    __table_args__ = (sa.CheckConstraint("role IN ('coordinator', 'planner', 'admin')", name="role"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=TEXT)  # who holds it, e.g. "锦园社区 duty desk"
    role: str = Field(sa_type=sa.String(16))
    # A coordinator's scope: the community ids whose lists the token may read (a street's communities).
    communities: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    street: str | None = Field(default=None, sa_type=TEXT)  # the street (街道) those communities make up
    token_hash: str = Field(sa_type=HASH, unique=True)
    prefix: str = Field(sa_type=sa.String(16))  # the token's first characters, to recognise it in a list
    created_at: datetime = Field(default_factory=utcnow, sa_type=AUDIT_TIME)
    expires_at: datetime | None = Field(default=None, sa_type=AUDIT_TIME)
    revoked_at: datetime | None = Field(default=None, sa_type=AUDIT_TIME)


# --- fan-out of a large solve (workers/fanout.py) ------------------------------------------------


class SolvePart(SQLModel, table=True):
    """One part of a fanned-out solve job: what it solves, and its schedule once solved (compact bytes)."""

    __tablename__ = "solve_part"
    __table_args__ = (sa.UniqueConstraint("job_id", "part"),)

    id: int | None = Field(default=None, primary_key=True)  # the `schedule.solve_part` message's argument
    job_id: int = Field(foreign_key="job.id", ondelete="CASCADE")
    part: int  # 0 … parts-1 of `scheduler.partition.partition`
    parts: int
    # The input state every part of the job solves (see workers.solving.State).
    parent_id: int | None = Field(default=None, foreign_key="schedule_version.id", ondelete="SET NULL")
    zone_change_through: int | None = None
    input_key: str = Field(sa_type=TEXT)
    payload: bytes | None = Field(default=None, sa_type=sa.LargeBinary)  # NULL until solved
    created_at: datetime = Field(default_factory=utcnow, sa_type=AUDIT_TIME)
    solved_at: datetime | None = Field(default=None, sa_type=AUDIT_TIME)
