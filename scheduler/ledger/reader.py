"""Read a scenario ledger into a validated `Scenario`, or fail with every problem found.

Files are read in dependency order (buildings, residents, points, workers, zones) and
each one is validated whole even when an earlier one had problems, so a coordinator
sees all that is wrong at once. Nothing is returned unless there is no problem at all.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.domain import (
    FLAGS,
    KINDS,
    LEVELS,
    NO_REF,
    SCOPES,
    SKILLS,
    Buildings,
    OpeningHours,
    Points,
    Residents,
    RoundSettings,
    Scenario,
    Workers,
    Zones,
)
from scheduler.ledger.columns import BUILDINGS, POINTS, RESIDENTS, WORKERS, ZONES, TableSpec, canonical_header
from scheduler.ledger.errors import LedgerError, Problem, ProblemLog
from scheduler.ledger.hours import HoursError, parse_hours
from scheduler.ledger.sources import (
    SETTINGS_FILE,
    FolderSource,
    LedgerSource,
    RawSettings,
    UnreadableFile,
    open_source,
)
from scheduler.privacy import hash_id_number, hash_phone, hash_resident_phone_tail

LIST_SEPARATORS = re.compile(r"[;；、]")
# Id numbers (also passports) and phones; a number Excel turned into 6.1E+17 fails both.
ID_NUMBER = re.compile(r"[0-9A-Za-z]{6,20}")
PHONE = re.compile(r"\+?[0-9][0-9 -]{4,19}")
ID_NUMBER_HELP = (
    "not an id number (6-20 letters and digits); a number typed into Excel loses its last digits, "
    "so format the column as text"
)
PHONE_HELP = "not a phone number (digits, blanks, dashes, an optional leading +)"
TRUE_WORDS = frozenset({"true", "1", "yes", "是", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "否", "n", ""})

# scenario.toml: key → (type, default); a default of None means the key is required.
SETTING_TYPES: dict[str, tuple[type, Any]] = {
    "name": (str, None),
    "start": (datetime, None),
    "days": (int, 1),
    "slot_minutes": (int, 30),
    "desk_rate_per_hour": (int, 120),
    "doorstep_minutes_per_household": (int, 6),
    "walk_speed_m_per_min": (int, 70),
    "max_walk_m": (int, 1500),
    "max_shift_hours": (float, 4.0),
    "min_break_minutes": (int, 30),
    "max_day_hours": (float, 8.0),
    "order_keepers_per_desk": (float, 0.5),
}
ZERO_ALLOWED = frozenset({"min_break_minutes", "order_keepers_per_desk"})


def ledger_digest(path: Path, *, salt: bytes, accept_suggestions: bool = False) -> str:
    """A hash of the ledger as read, so importing the same ledger twice is recognised.

    The salt and the reading options are part of it: the same files read with another
    salt (so other stored hashes) or other hours readings are another import.
    """
    reading = hashlib.blake2b(salt, digest_size=8, person=b"ledger").hexdigest()
    return f"{open_source(path).digest()}-{reading}{'-suggested' if accept_suggestions else ''}"


def read_scenario(path: Path, *, salt: bytes, accept_suggestions: bool = False) -> Scenario:
    """Read and validate a scenario folder or `.xlsx` workbook.

    `salt` keys the hashes of id numbers and phones. With `accept_suggestions`, an
    hours text that is refused but has a likely reading is read that way, and the
    reading is reported in `Scenario.warnings`.
    """
    try:
        source = open_source(path)
    except UnreadableFile as err:
        raise LedgerError([Problem(path.name, None, None, None, str(err).removeprefix(f"{path.name}: "))]) from None
    return read_source(source, salt=salt, accept_suggestions=accept_suggestions)


def read_source(source: LedgerSource, *, salt: bytes, accept_suggestions: bool = False) -> Scenario:
    """Read and validate a ledger from any source (`read_scenario` opens a folder or workbook)."""
    return _LedgerReader(source, salt, accept_suggestions).read()


class _Columns:
    """The position of each contract column in one table's header."""

    def __init__(self, spec: TableSpec, header: list[str], log: ProblemLog, warnings: list[str]) -> None:
        self.spec = spec
        self.index: dict[str, int] = {}
        for position, raw in enumerate(header):
            name = canonical_header(raw)
            if not name:
                continue
            if name in self.index:
                log.add(1, raw, raw, f"column {name!r} appears twice in the header")
            elif name in spec.columns:
                self.index[name] = position
            else:
                warnings.append(f"{log.file}: column {raw!r} is not part of the contract; ignored")
        self.ok = True
        for name in spec.required:
            if name not in self.index:
                log.add(1, name, None, f"required column {name!r} is missing from the header")
                self.ok = False

    def values(self, rows: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
        """Each row's stripped values in the order of the spec's columns; absent ones are ""."""
        # A missing column points at the "" appended to every row; a short row is padded.
        positions = [self.index.get(name, -1) for name in self.spec.columns]
        width = max(positions) + 1
        for line, cells in rows:
            if len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            cells.append("")
            yield line, [cells[i].strip() for i in positions]


class _LedgerReader:
    def __init__(self, source: LedgerSource, salt: bytes, accept_suggestions: bool) -> None:
        self.source = source
        self.salt = salt
        self.accept_suggestions = accept_suggestions
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.communities: dict[str, int] = {}
        self.compounds: dict[str, int] = {}
        self.compound_community: list[int] = []
        self.building_index: dict[str, int] = {}

    # -- plumbing -------------------------------------------------------------------------

    def _rows(self, spec: TableSpec) -> tuple[ProblemLog, Iterator[tuple[int, list[str]]]] | None:
        """The table's problem log and its rows as (line, values in the order of spec.columns)."""
        try:
            table = self.source.table(spec)
        except UnreadableFile as err:
            name, _, message = str(err).partition(": ")
            self.problems.append(Problem(name, None, None, None, message))
            return None
        if table is None:
            if spec.must_exist:
                self.problems.append(Problem(f"{spec.name}.csv", None, None, None, "file is missing"))
            return None
        log = ProblemLog(table.label)
        columns = _Columns(spec, table.header, log, self.warnings)
        if not columns.ok:
            self.problems.extend(log.all())
            return None
        return log, columns.values(table.rows)

    def _unique(self, seen: dict[str, int], value: str, log: ProblemLog, line: int, column: str) -> bool:
        if not value:
            log.add(line, column, value, "is empty")
            return False
        if value in seen:
            log.add(line, column, value, f"duplicate {column}")
            return False
        return True

    def _hours(self, text: str, log: ProblemLog, line: int, column: str) -> OpeningHours | None:
        try:
            hours = parse_hours(text, accept_suggestion=self.accept_suggestions)
        except HoursError as err:
            hint = (
                f"; likely reading {err.suggestion!r} (accept with --accept-suggested-hours)"
                if (err.suggestion)
                else ""
            )
            log.add(line, column, text, f"cannot read the time: {err.reason}{hint}")
            return None
        if hours.warning:
            self.warnings.append(f"{log.file}:{line}: column {column}: {hours.warning}")
        return hours

    # -- tables ---------------------------------------------------------------------------

    def read(self) -> Scenario:
        settings = self._settings()
        buildings = self._buildings()
        residents, households, household_building = self._residents(settings)
        points = self._points()
        workers = self._workers()
        zones = self._zones()
        if self.problems:
            raise LedgerError(self.problems)
        assert settings is not None and buildings is not None and residents is not None
        assert points is not None and workers is not None and zones is not None
        return Scenario(
            settings=settings,
            communities=list(self.communities),
            compounds=list(self.compounds),
            compound_community=np.array(self.compound_community, dtype=np.int32),
            households=households,
            household_building=household_building,
            buildings=buildings,
            residents=residents,
            points=points,
            workers=workers,
            zones=zones,
            warnings=self.warnings,
        )

    def _settings(self) -> RoundSettings | None:
        try:
            raw = self.source.settings()
        except UnreadableFile as err:
            name, _, message = str(err).partition(": ")
            self.problems.append(Problem(name, None, None, None, message))
            return None
        if raw is None:
            label = SETTINGS_FILE if isinstance(self.source, FolderSource) else "workbook[scenario]"
            self.problems.append(Problem(label, None, None, None, "the round's settings are missing"))
            return None
        log = ProblemLog(raw.label)
        if raw.error:
            log.add(None, None, None, raw.error)
            self.problems.extend(log.all())
            return None
        values = _settings_values(raw, log)
        self.problems.extend(log.all())
        return None if log.problems else RoundSettings(**values)

    def _buildings(self) -> Buildings | None:
        opened = self._rows(BUILDINGS)
        if opened is None:
            return None
        log, rows = opened
        ids: list[str] = []
        community: list[int] = []
        compound: list[int] = []
        lat: list[float] = []
        lon: list[float] = []
        floors: list[int] = []
        for line, (building_id, community_id, compound_id, lat_text, lon_text, floors_text) in rows:
            if not self._unique(self.building_index, building_id, log, line, "building_id"):
                continue
            if not community_id:
                log.add(line, "community_id", community_id, "is empty")
            if not compound_id:
                log.add(line, "compound_id", compound_id, "is empty")
            c = self.communities.setdefault(community_id, len(self.communities))
            k = self.compounds.get(compound_id)
            if k is None:
                k = self.compounds[compound_id] = len(self.compounds)
                self.compound_community.append(c)
            elif self.compound_community[k] != c:
                first = list(self.communities)[self.compound_community[k]]
                message = f"compound {compound_id!r} already lies in community {first!r}"
                log.add(line, "community_id", community_id, message)
            self.building_index[building_id] = len(ids)
            ids.append(building_id)
            community.append(c)
            compound.append(k)
            lat.append(_coordinate(lat_text, 90.0, log, line, "lat"))
            lon.append(_coordinate(lon_text, 180.0, log, line, "lon"))
            floors.append(_integer(floors_text, 0, 0, 200, log, line, "floors"))
        self.problems.extend(log.all())
        return Buildings(
            ids=ids,
            community=np.array(community, dtype=np.int32),
            compound=np.array(compound, dtype=np.int32),
            lat=np.array(lat, dtype=np.float64),
            lon=np.array(lon, dtype=np.float64),
            floors=np.array(floors, dtype=np.int16),
        )

    def _residents(self, settings: RoundSettings | None) -> tuple[Residents | None, list[str], np.ndarray]:
        opened = self._rows(RESIDENTS)
        if opened is None:
            return None, [], np.zeros(0, dtype=np.int32)
        log, rows = opened
        this_year = settings.start.year if settings else date.today().year
        salt = self.salt
        buildings = self.building_index
        seen: dict[str, int] = {}
        households: dict[str, int] = {}
        household_building: list[int] = []
        ids: list[str] = []
        household: list[int] = []
        building: list[int] = []
        birth_year: list[int] = []
        flags: list[int] = []
        id_hash: list[str | None] = []
        phone_hash: list[str | None] = []
        tail_hash: list[str | None] = []
        for line, (resident_id, household_id, building_id, birth, flag_text, id_number, phone) in rows:
            if not self._unique(seen, resident_id, log, line, "resident_id"):
                continue
            seen[resident_id] = len(ids)
            b = buildings.get(building_id, NO_REF)
            if b == NO_REF:
                log.add(line, "building_id", building_id, "unknown building (not in buildings.csv)")
            if not household_id:
                log.add(line, "household_id", household_id, "is empty")
            h = households.get(household_id)
            if h is None:
                h = households[household_id] = len(household_building)
                household_building.append(b)
            elif household_building[h] != b and b != NO_REF:
                message = f"household {household_id!r} already lives in another building"
                log.add(line, "building_id", building_id, message)
            ids.append(resident_id)
            household.append(h)
            building.append(b)
            birth_year.append(_integer(birth, 0, 1880, this_year, log, line, "birth_year") if birth else 0)
            flags.append(_bitmask(flag_text, FLAGS, log, line, "flags") if flag_text else 0)
            if id_number and not ID_NUMBER.fullmatch(id_number):
                log.add(line, "id_number", "(not shown)", ID_NUMBER_HELP)
            if phone and not PHONE.fullmatch(phone):
                log.add(line, "phone", "(not shown)", PHONE_HELP)
            id_hash.append(hash_id_number(id_number, salt) if id_number else None)
            phone_hash.append(hash_phone(phone, salt) if phone else None)
            tail_hash.append(hash_resident_phone_tail(resident_id, phone, salt) if phone else None)
        self.problems.extend(log.all())
        residents = Residents(
            ids=ids,
            household=np.array(household, dtype=np.int32),
            building=np.array(building, dtype=np.int32),
            birth_year=np.array(birth_year, dtype=np.int16),
            flags=np.array(flags, dtype=np.uint8),
            id_hash=id_hash,
            phone_hash=phone_hash,
            phone_tail_hash=tail_hash,
        )
        return residents, list(households), np.array(household_building, dtype=np.int32)

    def _community_ref(self, value: str, log: ProblemLog, line: int) -> int:
        if not value:
            return NO_REF
        c = self.communities.get(value, NO_REF)
        if c == NO_REF:
            log.add(line, "community_id", value, "unknown community (no building of buildings.csv lies in it)")
        return c

    def _points(self) -> Points | None:
        opened = self._rows(POINTS)
        if opened is None:
            return None
        log, rows = opened
        seen: dict[str, int] = {}
        ids: list[str] = []
        names: list[str] = []
        community: list[int] = []
        compound: list[int] = []
        lat: list[float] = []
        lon: list[float] = []
        desks: list[int] = []
        hours: list[OpeningHours] = []
        accessible: list[bool] = []
        for line, (point_id, lat_text, lon_text, desks_text, text, name, community_id, compound_id, access) in rows:
            if not self._unique(seen, point_id, log, line, "point_id"):
                continue
            seen[point_id] = len(ids)
            c = self._community_ref(community_id, log, line)
            k = NO_REF
            if compound_id:
                k = self.compounds.get(compound_id, NO_REF)
                if k == NO_REF:
                    message = "unknown compound (no building of buildings.csv lies in it)"
                    log.add(line, "compound_id", compound_id, message)
                elif c == NO_REF:
                    c = self.compound_community[k]  # an in-compound point belongs to its compound's community
                elif self.compound_community[k] != c:
                    log.add(line, "compound_id", compound_id, "compound does not lie in the point's community_id")
            ids.append(point_id)
            names.append(name)
            community.append(c)
            compound.append(k)
            lat.append(_coordinate(lat_text, 90.0, log, line, "lat"))
            lon.append(_coordinate(lon_text, 180.0, log, line, "lon"))
            desks.append(_integer(desks_text, 0, 0, 1000, log, line, "desks"))
            hours.append(self._hours(text, log, line, "hours") or OpeningHours(text, ()))
            accessible.append(_boolean(access, log, line, "accessible"))
        self.problems.extend(log.all())
        return Points(
            ids=ids,
            names=names,
            community=np.array(community, dtype=np.int32),
            compound=np.array(compound, dtype=np.int32),
            lat=np.array(lat, dtype=np.float64),
            lon=np.array(lon, dtype=np.float64),
            desks=np.array(desks, dtype=np.int32),
            hours=hours,
            accessible=np.array(accessible, dtype=bool),
        )

    def _workers(self) -> Workers | None:
        opened = self._rows(WORKERS)
        ids: list[str] = []
        names: list[str] = []
        kind: list[int] = []
        skills: list[int] = []
        community: list[int] = []
        available: list[OpeningHours] = []
        if opened is not None:
            log, rows = opened
            seen: dict[str, int] = {}
            for line, (worker_id, kind_text, skill_text, text, name, community_id) in rows:
                if not self._unique(seen, worker_id, log, line, "worker_id"):
                    continue
                seen[worker_id] = len(ids)
                ids.append(worker_id)
                names.append(name)
                kind.append(_choice(kind_text, KINDS, log, line, "kind"))
                if not skill_text:
                    log.add(line, "skills", skill_text, "is empty: a worker needs at least one skill")
                skills.append(_bitmask(skill_text, SKILLS, log, line, "skills"))
                community.append(self._community_ref(community_id, log, line))
                available.append(self._hours(text, log, line, "available") or OpeningHours(text, ()))
            self.problems.extend(log.all())
        return Workers(
            ids=ids,
            names=names,
            kind=np.array(kind, dtype=np.int8),
            skills=np.array(skills, dtype=np.uint8),
            community=np.array(community, dtype=np.int32),
            available=available,
        )

    def _zones(self) -> Zones | None:
        opened = self._rows(ZONES)
        level: list[int] = []
        scope: list[int] = []
        target: list[int] = []
        if opened is not None:
            log, rows = opened
            targets = {"community": self.communities, "compound": self.compounds, "building": self.building_index}
            for line, (level_text, scope_text, target_id) in rows:
                lvl = _choice(level_text, LEVELS[1:], log, line, "level") + 1
                s = _choice(scope_text, SCOPES, log, line, "scope")
                scope_text = SCOPES[s]  # the vocabulary's spelling: `Building` is `building`
                t = targets[scope_text].get(target_id, NO_REF) if scope_text in targets else NO_REF
                if scope_text in targets and t == NO_REF:
                    log.add(line, "target_id", target_id, f"unknown {scope_text}")
                level.append(lvl)
                scope.append(s)
                target.append(t)
            self.problems.extend(log.all())
        return Zones(
            level=np.array(level, dtype=np.int8),
            scope=np.array(scope, dtype=np.int8),
            target=np.array(target, dtype=np.int32),
        )


# -- cell readers: each returns a usable value and logs the problem, so reading goes on ------


def _settings_values(raw: RawSettings, log: ProblemLog) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, (value, line) in raw.values.items():
        if key not in SETTING_TYPES:
            log.add(line, key, str(value), f"unknown setting; known: {', '.join(SETTING_TYPES)}")
    for key, (kind, default) in SETTING_TYPES.items():
        value, line = raw.values.get(key, (None, None))
        if value is None or value == "":
            if default is None:
                log.add(line, key, None, "required setting is missing")
            else:
                values[key] = default
            continue
        try:
            values[key] = _setting(kind, value)
        except ValueError as err:
            log.add(line, key, str(value), str(err))
            continue
        if kind in (int, float) and (values[key] < 0 or (values[key] == 0 and key not in ZERO_ALLOWED)):
            log.add(line, key, str(value), "must be positive")
    slot, shift = values.get("slot_minutes"), values.get("max_shift_hours")
    if isinstance(slot, int) and isinstance(shift, float) and slot > 0 and shift * 60 < slot:
        # A duty is made of whole slots: a shift shorter than a slot could never be rostered.
        line = raw.values.get("max_shift_hours", (None, None))[1]
        log.add(line, "max_shift_hours", str(shift), f"shorter than one slot of {slot} minutes")
    return values


def _setting(kind: type, value: Any) -> Any:
    if kind is datetime:
        moment = value
        if not isinstance(value, datetime):
            try:
                moment = datetime.fromisoformat(str(value).strip())
            except ValueError:
                raise ValueError("not a local date-time such as 2022-03-14T07:00") from None
        if moment.tzinfo is not None:
            raise ValueError("carries a UTC offset; the round's start is local time without one")
        return moment
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit():
            raise ValueError("not a whole number")
        return int(str(value).strip())
    if kind is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("not a number") from None
    return str(value).strip()


def _coordinate(text: str, limit: float, log: ProblemLog, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        log.add(line, column, text, "not a number of degrees")
        return 0.0
    if not math.isfinite(value) or abs(value) > limit:
        log.add(line, column, text, f"outside -{limit:g}..{limit:g} degrees")
        return 0.0
    return value


def _integer(text: str, default: int, low: int, high: int, log: ProblemLog, line: int, column: str) -> int:
    if not text:
        if default < low:
            log.add(line, column, text, "is empty")
        return default
    try:
        value = int(float(text)) if text.endswith(".0") else int(text)
    except ValueError:
        log.add(line, column, text, "not a whole number")
        return default
    if not low <= value <= high:
        log.add(line, column, text, f"outside {low}..{high}")
        return default
    return value


def _boolean(text: str, log: ProblemLog, line: int, column: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word not in FALSE_WORDS:
        log.add(line, column, text, "not a yes/no value (true/false, 1/0, yes/no, 是/否)")
    return False


def _choice(text: str, vocabulary: tuple[str, ...], log: ProblemLog, line: int, column: str) -> int:
    word = text.lower()
    if word in vocabulary:
        return vocabulary.index(word)
    log.add(line, column, text, f"unknown {column}; expected one of {', '.join(vocabulary)}")
    return 0


def _bitmask(text: str, vocabulary: tuple[str, ...], log: ProblemLog, line: int, column: str) -> int:
    mask = 0
    for part in LIST_SEPARATORS.split(text):
        word = part.strip().lower()
        if not word:
            continue
        if word in vocabulary:
            mask |= 1 << vocabulary.index(word)
        else:
            log.add(line, column, text, f"unknown entry {word!r}; expected any of {', '.join(vocabulary)}")
    return mask
