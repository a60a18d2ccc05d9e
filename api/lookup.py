"""A resident's own visit: found by id number + phone, or resident id + the phone's last four digits.

Both ways are one indexed query on the keyed hashes the ledger import stored (`scheduler.privacy`);
a wrong factor and an unknown person find no row in the same query, so they get the same answer in
the same time. The answer holds where, when and what to bring: nothing else about the person.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, Protocol

import asyncpg
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import URL
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from starlette.concurrency import run_in_threadpool

from api.batching import Coalescer
from api.schemas import LocalTime
from scheduler.privacy import hash_id_number, hash_phone, hash_resident_phone_tail

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
Mode = Literal["point", "doorstep", "unscheduled"]
# Printable text without NUL (which no database takes), bounded so that no input is unbounded work.
IdNumber = Annotated[str, StringConstraints(min_length=15, max_length=32, pattern=r"^[0-9Xx \-]+$")]
Phone = Annotated[str, StringConstraints(min_length=4, max_length=32, pattern=r"^[0-9+ \-()]+$")]
ResidentId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]


class LookupByIdNumber(BaseModel):
    """Look up by the id number (身份证号) and the phone number the ledger holds."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"id_number": "410102196105232759", "phone": "18213666312"}]}
    )

    id_number: IdNumber
    phone: Phone


class LookupByResidentId(BaseModel):
    """Look up by the resident id on the community's notice and the last four digits of the phone."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"resident_id": "R00000003", "phone_last4": "6312"}]}
    )

    resident_id: ResidentId
    phone_last4: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]


LookupRequest = LookupByIdNumber | LookupByResidentId


class PointPlace(BaseModel):
    name: str = Field(examples=["锦园社区采样点（桥晖公寓）"])
    lat: float = Field(examples=[30.271657])
    lon: float = Field(examples=[120.152607])


class VisitAnswer(BaseModel):
    """Where and when to be sampled, and what to bring: nothing else."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mode": "point",
                    "point": {"name": "锦园社区采样点（桥晖公寓）", "lat": 30.271657, "lon": 120.152607},
                    "start": "2022-04-12T08:00:00",
                    "end": "2022-04-12T08:30:00",
                    "message": "请于 2022-04-12 08:00–08:30 到 锦园社区采样点（桥晖公寓） 采样。",
                    "bring": ["身份证或其他有效证件", "手机（出示健康码）", "口罩：全程佩戴，排队时保持一米距离"],
                    "language": "zh",
                }
            ]
        }
    )

    mode: Mode = Field(
        description="point: come to the point in the window; doorstep: stay home, a team comes in the window; "
        "unscheduled: no visit yet (the community will say when)."
    )
    point: PointPlace | None = None
    start: LocalTime | None = Field(default=None, description="When the window opens.")
    end: LocalTime | None = Field(default=None, description="When the window closes.")
    message: str
    bring: list[str]
    language: Language


BRING: dict[Mode, dict[Language, list[str]]] = {
    "point": {
        "zh": ["身份证或其他有效证件", "手机（出示健康码）", "口罩：全程佩戴，排队时保持一米距离"],
        "en": [
            "Your ID card or another identity document",
            "Your phone, to show your health code",
            "A face mask, worn throughout; keep one metre apart in the queue",
        ],
    },
    "doorstep": {
        "zh": ["身份证或其他有效证件", "口罩：开门前戴好", "请全体家庭成员在家等候"],
        "en": [
            "Your ID card or another identity document",
            "A face mask, on before you open the door",
            "Every member of the household at home",
        ],
    },
    "unscheduled": {"zh": [], "en": []},
}


def _when(start: datetime, end: datetime) -> str:
    last = end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%Y-%m-%d %H:%M")
    return f"{start.strftime('%Y-%m-%d %H:%M')}–{last}"


def answer(
    mode: str, point: PointPlace | None, start: datetime | None, end: datetime | None, lang: Language
) -> VisitAnswer:
    kind: Mode
    if mode == "point" and point is not None and start is not None and end is not None:
        kind = "point"
        message = {
            "zh": f"请于 {_when(start, end)} 到 {point.name} 采样。",
            "en": f"Please come to {point.name} on {_when(start, end)} to be sampled.",
        }[lang]
    elif mode == "doorstep" and start is not None and end is not None:
        kind = "doorstep"
        message = {
            "zh": f"请在家等候：采样人员将于 {_when(start, end)} 上门采样。",
            "en": f"Please stay at home: a sampling team will come to your door on {_when(start, end)}.",
        }[lang]
    else:
        kind, point, start, end = "unscheduled", None, None, None
        message = {
            "zh": "您的采样时间尚未排定，社区将另行通知。",
            "en": "Your sampling time is not scheduled yet; your community will let you know.",
        }[lang]
    return VisitAnswer(
        mode=kind, point=point, start=start, end=end, message=message, bring=BRING[kind][lang], language=lang
    )


def language(accept_language: str | None) -> Language:
    """The best of zh/en for an `Accept-Language` header (q-values honoured); Chinese when none fits."""
    best: tuple[float, Language] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = next((lang for lang in LANGUAGES if tag.strip().lower().split("-", 1)[0] == lang), None)
        if primary is None:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q, primary)
    return best[1] if best else "zh"


def person_key(request: LookupRequest, salt: bytes) -> str:
    """Who the attempt is about, for the per-person rate limit: a keyed hash of the normalised id number
    (spaces or a lower-case x make no new person), or of the resident id."""
    if isinstance(request, LookupByIdNumber):
        return hash_id_number(request.id_number, salt) or "(no id number)"
    return hashlib.blake2b(f"rid:{request.resident_id.strip()}".encode(), key=salt[:64], digest_size=16).hexdigest()


_t = SQLModel.metadata.tables
RESIDENT, SCENARIO, VISIT, POINT, VERSION = (
    _t["resident"],
    _t["scenario"],
    _t["visit"],
    _t["point"],
    _t["schedule_version"],
)


def _person(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The person (scenario, resident, newest published version) in the newest round they belong to."""
    newest = (
        sa.select(VERSION.c.id)
        .where(VERSION.c.scenario_id == RESIDENT.c.scenario_id, VERSION.c.status == "published")
        .order_by(VERSION.c.published_at.desc(), VERSION.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        sa.select(RESIDENT.c.scenario_id, RESIDENT.c.resident_id, newest.label("version_id"))
        .join(SCENARIO, SCENARIO.c.id == RESIDENT.c.scenario_id)
        .where(*where)
        .order_by(SCENARIO.c.start.desc(), SCENARIO.c.id.desc())
        .limit(1)
    )


def _visit_of(person: sa.FromClause, people: sa.FromClause | None = None) -> sa.Select[Any]:
    """The person's visit and point; found first, in a derived table of at most one row, so that the
    planner looks the visit and the point up by primary key whatever its statistics say."""
    found = person if people is None else people.outerjoin(person, sa.true())
    return sa.select(
        *([] if people is None else [people.c.n, person.c.resident_id]),
        VISIT.c.mode,
        VISIT.c.start,
        VISIT.c.end,
        POINT.c.name,
        POINT.c.lat,
        POINT.c.lon,
    ).select_from(
        found.outerjoin(
            VISIT, sa.and_(VISIT.c.version_id == person.c.version_id, VISIT.c.resident_id == person.c.resident_id)
        ).outerjoin(POINT, sa.and_(POINT.c.scenario_id == person.c.scenario_id, POINT.c.point_id == VISIT.c.point_id))
    )


def _one(*factors: str) -> sa.Select[Any]:
    """The look-up of one person by the resident columns `factors`, each a bound parameter of its name."""
    return _visit_of(_person(*(RESIDENT.c[f] == sa.bindparam(f) for f in factors)).subquery("person"))


def _many(*factors: str) -> sa.Select[Any]:
    """The look-up of many people at once (PostgreSQL): each factor an array parameter of its name, one
    row per person with its place in the arrays (`n`, from 1) and the resident found (NULL: nobody)."""
    people = (
        sa.func.unnest(*(sa.bindparam(f, type_=ARRAY(sa.Text)) for f in factors))
        .table_valued(*factors, with_ordinality="n")
        .render_derived("people")
    )
    person = _person(*(RESIDENT.c[f] == people.c[f] for f in factors)).lateral("person")
    return _visit_of(person, people)


# The two ways to look up, by the resident columns each matches.
FACTORS: dict[str, tuple[str, ...]] = {"id_number": ("id_hash", "phone_hash"), "phone_tail": ("phone_tail_hash",)}
ONE = {way: _one(*factors) for way, factors in FACTORS.items()}
_NOTHING = "(no such hash)"  # a hash no row has: an unreadable factor costs the same query as a wrong one


Found = tuple[str, PointPlace | None, datetime | None, datetime | None]  # mode, point, start, end


def _hashes(request: LookupRequest, salt: bytes) -> tuple[str, dict[str, str]]:
    """The way of looking up, and the hash of each of its factors (one that hashes to nothing: `_NOTHING`)."""
    if isinstance(request, LookupByIdNumber):
        return "id_number", {
            "id_hash": hash_id_number(request.id_number, salt) or _NOTHING,
            "phone_hash": hash_phone(request.phone, salt) or _NOTHING,
        }
    tail = hash_resident_phone_tail(request.resident_id, request.phone_last4, salt)
    return "phone_tail", {"phone_tail_hash": tail or _NOTHING}


def _found(row: Sequence[Any] | None) -> Found | None:
    """The visit of a result row; None when no resident matched both factors."""
    if row is None:
        return None
    mode, start, end, name, lat, lon = row
    point = PointPlace(name=name, lat=lat, lon=lon) if name is not None else None
    return mode or "unscheduled", point, start, end


class Lookups(Protocol):
    """Runs the look-up query; opened and closed by the app's lifespan, in its event loop."""

    async def open(self) -> None: ...

    async def find(self, request: LookupRequest, salt: bytes) -> Found | None: ...

    async def close(self) -> None: ...


class EngineLookups:
    """On any SQLAlchemy engine (the embedded SQLite): the query in the thread pool, outside a transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def open(self) -> None:
        """Nothing to open: the engine's pool is the app's."""

    async def find(self, request: LookupRequest, salt: bytes) -> Found | None:
        return await run_in_threadpool(self.find_now, request, salt)

    def find_now(self, request: LookupRequest, salt: bytes) -> Found | None:
        way, hashes = _hashes(request, salt)
        with self._engine.connect() as conn:
            return _found(conn.execute(ONE[way], hashes).one_or_none())

    async def close(self) -> None:
        """Nothing to close."""


class LookupUnavailable(RuntimeError):
    """The look-up's database did not answer in time (no free connection or no server): a 503, not a 500."""


# The database away, restarting, failing over or full: worth a retry (503), not a bug (500).
_UNAVAILABLE = (
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,  # e.g. the pool closing
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash shutdown, query cancelled
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, out of memory
)


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """A released look-up connection is returned as it is (see `PostgresLookups.open`)."""


class PostgresLookups:
    """On PostgreSQL through asyncpg's pool: a look-up holds no thread while the database answers, runs
    outside a transaction as a statement prepared once per connection, and goes in one statement with
    the look-ups that arrive while the previous one runs (`api.batching`). asyncpg rather than the app's
    psycopg: its protocol is compiled; on this hot path it takes about half psycopg's CPU per query
    (bench/bench_lookup.py prints the CPU per look-up of each process)."""

    ACQUIRE_TIMEOUT_S = 5.0
    COMMAND_TIMEOUT_S = 5.0

    def __init__(self, url: URL, max_size: int = 4) -> None:
        dialect = asyncpg_dialect()
        self._sql: dict[str, tuple[str, list[str], dict[str, Any]]] = {}  # SQL, its $n in order, constants
        for way, factors in FACTORS.items():
            compiled = _many(*factors).compile(dialect=dialect)
            self._sql[way] = (str(compiled), list(compiled.positiontup or ()), dict(compiled.params))
        self._batches = {way: Coalescer(partial(self._find_many, way)) for way in FACTORS}
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        # `reset`: by default asyncpg sends a reset query (RESET ALL, UNLISTEN …) on every release, one
        # more round trip per batch; the look-up changes no session state, so there is nothing to reset.
        # min_size 0: the pool connects on the first look-up, so the API starts (and answers 503 to
        # look-ups) while the database is away; command_timeout: a stuck connection stalls one batch,
        # then fails it as unavailable, instead of holding every later look-up of its kind.
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._max_size,
            reset=_nothing_to_reset,
            command_timeout=self.COMMAND_TIMEOUT_S,
        )

    async def find(self, request: LookupRequest, salt: bytes) -> Found | None:
        way, hashes = _hashes(request, salt)
        return await self._batches[way].submit(hashes)

    async def _find_many(self, way: str, people: list[dict[str, str]]) -> list[Found | None]:
        """One statement for `people`, each found or None."""
        if self._pool is None:
            raise LookupUnavailable("the look-up's pool is not open")
        sql, order, constants = self._sql[way]
        values = {**constants, **{factor: [hashes[factor] for hashes in people] for factor in FACTORS[way]}}
        try:
            async with self._pool.acquire(timeout=self.ACQUIRE_TIMEOUT_S) as conn:
                rows = await conn.fetch(sql, *(values[name] for name in order))
        except _UNAVAILABLE as exc:
            raise LookupUnavailable(str(exc) or type(exc).__name__) from exc
        found: list[Found | None] = [None] * len(people)
        for n, resident_id, *visit in rows:
            if resident_id is not None:
                found[n - 1] = _found(visit)
        return found

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


def lookups_for(engine: Engine) -> Lookups:
    """The look-up runner for the app's database."""
    if engine.dialect.name == "postgresql":
        return PostgresLookups(engine.url)
    return EngineLookups(engine)
