"""The domain of one screening round, held as compact numpy-backed tables.

A district has a million residents, so every per-row attribute is a numpy array
indexed by row number; references between tables are row indices, not strings.
Ids are kept as Python lists only to write them back out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

import numpy as np

FLAGS: tuple[str, ...] = ("elderly_alone", "disabled", "pregnant", "bedridden", "infant")
SKILLS: tuple[str, ...] = ("sample", "register", "order", "lead", "doorstep")
KINDS: tuple[str, ...] = ("medical", "cadre", "community", "volunteer")
# Ordered by strictness: a building takes the highest level that covers it.
LEVELS: tuple[str, ...] = ("normal", "precaution", "controlled", "sealed")
SCOPES: tuple[str, ...] = ("community", "compound", "building")

FLAG_BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(FLAGS)}
SKILL_BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(SKILLS)}
SPECIAL_GROUPS_MASK = FLAG_BIT["elderly_alone"] | FLAG_BIT["disabled"] | FLAG_BIT["pregnant"]
NO_REF = -1  # an optional reference that is not set (public point, worker without community)


def names_of(mask: int, vocabulary: tuple[str, ...]) -> list[str]:
    """The names whose bits are set in a flags or skills bitmask."""
    return [name for i, name in enumerate(vocabulary) if mask & (1 << i)]


@dataclass(frozen=True)
class RoundSettings:
    """The keys of `scenario.toml`, with the contract's defaults.

    The fields are exactly the contract's keys (the generator, the store and the API
    iterate them); a round cut shorter than its days is a `ShortRound`.
    """

    name: str
    start: datetime
    days: int = 1
    slot_minutes: int = 30
    desk_rate_per_hour: int = 120
    doorstep_minutes_per_household: int = 6
    walk_speed_m_per_min: int = 70
    max_walk_m: int = 1500
    max_shift_hours: float = 4.0
    min_break_minutes: int = 30
    max_day_hours: float = 8.0
    order_keepers_per_desk: float = 0.5

    @property
    def round_minutes(self) -> int:
        """Length of the round: `days` × 24 h (ruling 1), or less in a `ShortRound`."""
        return self.days * 24 * 60

    @property
    def round_days(self) -> int:
        """Whole days the round lasts, the last one begun counted whole."""
        return -(-self.round_minutes // 1440)

    def within_hours(self, hours: float | None) -> RoundSettings:
        """These settings with the round cut to its first `hours` (None: the whole `days`)."""
        contract = {f.name: getattr(self, f.name) for f in fields(RoundSettings)}
        return RoundSettings(**contract) if hours is None else ShortRound(**contract, round_hours=hours)

    @property
    def n_slots(self) -> int:
        return self.round_minutes // self.slot_minutes

    def slot_capacity(self, desks: np.ndarray) -> np.ndarray:
        """Persons `desks` open desks sample in one slot: floor(desks × rate × slot / 60), in integers."""
        return np.asarray(desks, dtype=np.int64) * self.desk_rate_per_hour * self.slot_minutes // 60

    def desks_for(self, load: np.ndarray) -> np.ndarray:
        """The fewest desks d with slot_capacity(d) ≥ load (floor(x) ≥ n exactly when x ≥ n)."""
        return -(-np.asarray(load, dtype=np.int64) * 60 // (self.desk_rate_per_hour * self.slot_minutes))

    @property
    def start_minute_of_day(self) -> int:
        """Minutes from the local midnight before the round to its start."""
        return self.start.hour * 60 + self.start.minute

    def at(self, minute: int) -> datetime:
        """The local date-time `minute` minutes after the round opens."""
        return self.start + timedelta(minutes=int(minute))


@dataclass(frozen=True)
class ShortRound(RoundSettings):
    """A round that must finish within `round_hours` of its start (a planner's what-if, staff sizing).

    Not a key of `scenario.toml`: the window is `[start, start + round_hours)`, never longer
    than `days`; slots, opening hours, door routes, staff calendars and the validator all
    end there. `RoundSettings.within_hours` makes one; `dataclasses.replace` keeps it.
    """

    round_hours: float = 24.0

    def __post_init__(self) -> None:
        if not self.round_hours > 0:
            raise ValueError(f"round_hours must be positive, not {self.round_hours}")

    @property
    def round_minutes(self) -> int:
        return min(self.days * 24 * 60, round(self.round_hours * 60))


@dataclass(frozen=True)
class OpeningHours:
    """Opening hours as read from a person's text.

    `windows` are (start, end) minutes of the day, sorted and disjoint; an end past
    1440 runs into the next day (`次日`). `weekdays` holds Monday=0 … Sunday=6.
    `warning` is set when the text was read only through an accepted suggestion.
    """

    text: str
    windows: tuple[tuple[int, int], ...]
    weekdays: frozenset[int] = frozenset(range(7))
    warning: str | None = None

    @property
    def round_the_clock(self) -> bool:
        return self.weekdays == frozenset(range(7)) and self.windows == ((0, 1440),)

    def in_round(self, start: datetime, days: int, minutes: int | None = None) -> list[tuple[int, int]]:
        """Open intervals in minutes since `start`, clipped to the round `[start, start + days)`.

        `minutes`, when given, ends the round earlier (`RoundSettings.round_minutes`).
        Windows of consecutive days that touch (round the clock) are merged.
        """
        horizon = days * 24 * 60 if minutes is None else min(days * 24 * 60, minutes)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        offset = start.hour * 60 + start.minute
        intervals: list[tuple[int, int]] = []
        # Start one day early: a window running past midnight (次日) reaches into the round.
        for day in range(-1, days + 1):
            weekday = (midnight + timedelta(days=day)).weekday()
            if weekday not in self.weekdays:
                continue
            base = day * 1440 - offset
            for a, b in self.windows:
                lo, hi = max(base + a, 0), min(base + b, horizon)
                if lo < hi:
                    if intervals and intervals[-1][1] >= lo:
                        intervals[-1] = (intervals[-1][0], max(intervals[-1][1], hi))
                    else:
                        intervals.append((lo, hi))
        return intervals

    def slot_mask(self, settings: RoundSettings) -> np.ndarray:
        """Boolean per slot of the round: the slot lies wholly inside one open interval."""
        mask = np.zeros(settings.n_slots, dtype=bool)
        step = settings.slot_minutes
        for lo, hi in self.in_round(settings.start, settings.days, settings.round_minutes):
            first = -(-lo // step)  # first slot starting at or after lo
            last = hi // step  # slots ending at or before hi
            if last > first:
                mask[first:last] = True
        return mask


def slot_masks(texts: list[OpeningHours], settings: RoundSettings) -> np.ndarray:
    """Bool (len(texts), slots): each one's `slot_mask`; equal hours (the common case) computed once."""
    masks: dict[OpeningHours, np.ndarray] = {}
    out = np.zeros((len(texts), settings.n_slots), dtype=bool)
    for row, hours in enumerate(texts):
        mask = masks.get(hours)
        if mask is None:
            mask = masks[hours] = hours.slot_mask(settings)
        out[row] = mask
    return out


@dataclass
class Buildings:
    ids: list[str]
    community: np.ndarray  # int32 row in Scenario.communities
    compound: np.ndarray  # int32 row in Scenario.compounds
    lat: np.ndarray  # float64 degrees
    lon: np.ndarray  # float64 degrees
    floors: np.ndarray  # int16, 0 when not given

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Residents:
    ids: list[str]
    household: np.ndarray  # int32 row in Scenario.households
    building: np.ndarray  # int32 row in Buildings
    birth_year: np.ndarray  # int16, 0 when not given
    flags: np.ndarray  # uint8 bitmask over FLAGS
    id_hash: list[str | None]  # keyed hash of the id number; the number itself is never kept
    phone_hash: list[str | None]
    phone_tail_hash: list[str | None]  # keyed hash of the phone's last four digits

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Points:
    ids: list[str]
    names: list[str]
    community: np.ndarray  # int32, NO_REF for a public point
    compound: np.ndarray  # int32, NO_REF unless an in-compound point
    lat: np.ndarray
    lon: np.ndarray
    desks: np.ndarray  # int32
    hours: list[OpeningHours]
    accessible: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Workers:
    ids: list[str]
    names: list[str]
    kind: np.ndarray  # int8 index into KINDS
    skills: np.ndarray  # uint8 bitmask over SKILLS
    community: np.ndarray  # int32, NO_REF when the worker may serve anywhere
    available: list[OpeningHours]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Zones:
    level: np.ndarray  # int8 index into LEVELS (never 0: "normal" is the absence of a zone)
    scope: np.ndarray  # int8 index into SCOPES
    target: np.ndarray  # int32 row in communities, compounds or buildings, by scope

    def __len__(self) -> int:
        return len(self.level)


@dataclass
class Scenario:
    """One screening round for one area, validated and ready for the solvers."""

    settings: RoundSettings
    communities: list[str]
    compounds: list[str]
    compound_community: np.ndarray  # int32 row in communities, per compound
    households: list[str]
    household_building: np.ndarray  # int32 row in Buildings, per household
    buildings: Buildings
    residents: Residents
    points: Points
    workers: Workers
    zones: Zones
    warnings: list[str] = field(default_factory=list)

    def building_level(self) -> np.ndarray:
        """The strictest zone level covering each building (0 = normal)."""
        level = np.zeros(len(self.buildings), dtype=np.int8)
        by_scope = {
            SCOPES.index("community"): self.buildings.community,
            SCOPES.index("compound"): self.buildings.compound,
        }
        for lvl, scope, target in zip(self.zones.level, self.zones.scope, self.zones.target, strict=True):
            if scope == SCOPES.index("building"):
                level[target] = max(level[target], lvl)
            else:
                covered = by_scope[int(scope)] == target
                level[covered] = np.maximum(level[covered], lvl)
        return level

    def point_community(self) -> np.ndarray:
        """Each point's community row: its own, its compound's (in-compound point), or NO_REF (public)."""
        points = self.points
        community = points.community.astype(np.int64).copy()
        inside = (community == NO_REF) & (points.compound != NO_REF)
        community[inside] = self.compound_community[points.compound[inside]]
        return community

    def household_flags(self) -> np.ndarray:
        """The union of the members' flags, per household (uint8 bitmask over FLAGS)."""
        flags = np.zeros(len(self.households), dtype=np.uint8)
        np.bitwise_or.at(flags, self.residents.household, self.residents.flags)
        return flags

    def summary(self) -> dict[str, int]:
        """Counts a coordinator checks after an import."""
        level = self.building_level()
        resident_level = level[self.residents.building]
        counts = {
            "communities": len(self.communities),
            "compounds": len(self.compounds),
            "buildings": len(self.buildings),
            "households": len(self.households),
            "residents": len(self.residents),
            "points": len(self.points),
            "desks": int(self.points.desks.sum()),
            "workers": len(self.workers),
            "zones": len(self.zones),
        }
        for i, name in enumerate(LEVELS[1:], start=1):
            counts[f"residents_{name}"] = int((resident_level == i).sum())
        for name, bit in FLAG_BIT.items():
            counts[f"residents_{name}"] = int(((self.residents.flags & bit) != 0).sum())
        for name, bit in SKILL_BIT.items():
            counts[f"workers_{name}"] = int(((self.workers.skills & bit) != 0).sum())
        return counts
