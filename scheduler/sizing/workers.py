"""The sized workers as ledger rows: who (kind, skills), where (community) and when (`available`).

An added worker's availability is exactly their shift's duties, written in the hours
grammar (`次日` past midnight) and read back with the ledger's own parser, so the
`workers.csv` the sizing writes says what the scenario it verified held.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from scheduler.domain import KINDS, NO_REF, SKILL_BIT, RoundSettings, Scenario, Workers
from scheduler.ledger.hours import parse_hours

# Who is called in for each role: medical staff sample; cadres register and keep order;
# community workers lead (they know the community); door samplers are medical staff.
ROLE_KIND = {"sample": "medical", "register": "cadre", "order": "cadre", "lead": "community", "doorstep": "medical"}
ROLE_SKILLS = {
    "sample": ("sample",),
    "register": ("register",),
    "order": ("order",),
    "lead": ("lead",),
    "doorstep": ("sample", "doorstep"),
}
ID_PREFIX = "SZ"


@dataclass(frozen=True)
class Call:
    """`count` workers to call in for `role`, serving `community` (NO_REF: anywhere), on duty `available`."""

    role: str  # a POINT_ROLES name, or "doorstep" for a door sampler
    community: int  # row in scenario.communities, NO_REF for public points
    available: str  # hours text
    minutes: int  # duty minutes each
    count: int

    @property
    def kind(self) -> str:
        return ROLE_KIND[self.role]

    @property
    def skills(self) -> str:
        return ";".join(ROLE_SKILLS[self.role])


def hours_text(settings: RoundSettings, duties: tuple[tuple[int, int], ...]) -> str:
    """Duties in slots of the round as an hours text: each window by the clock (`次日` past midnight)."""
    windows = []
    for a, b in duties:
        lo = (settings.start_minute_of_day + a * settings.slot_minutes) % 1440
        hi = lo + (b - a) * settings.slot_minutes
        windows.append((lo, hi))
    return ";".join(f"{_clock(lo)}-{_end(hi)}" for lo, hi in sorted(windows))


def round_text(settings: RoundSettings) -> str:
    """The whole round `[start, start + round)` as an hours text (`24小时` when it lasts a day or more)."""
    if settings.round_minutes >= 1440:
        return "24小时"
    return hours_text(settings, ((0, settings.round_minutes // settings.slot_minutes),))


def _end(minute: int) -> str:
    """A window's end: `24:00` at midnight, `次日` past it."""
    if minute == 1440:
        return "24:00"
    return f"次日{_clock(minute)}" if minute > 1440 else _clock(minute)


def _clock(minute: int) -> str:
    minute %= 1440
    return f"{minute // 60:02d}:{minute % 60:02d}"


def with_calls(scenario: Scenario, calls: list[Call]) -> Scenario:
    """`scenario` with the called-in workers appended (existing rows keep their index)."""
    old = scenario.workers
    taken = set(old.ids)
    ids, names, kind, skills, community, available = [], [], [], [], [], []
    n = 0
    for call in calls:
        hours = parse_hours(call.available)
        mask = 0
        for skill in ROLE_SKILLS[call.role]:
            mask |= SKILL_BIT[skill]
        for _ in range(call.count):
            n += 1
            while f"{ID_PREFIX}{n:05d}" in taken:
                n += 1
            ids.append(f"{ID_PREFIX}{n:05d}")
            names.append(f"sizing: {call.role}")
            kind.append(KINDS.index(call.kind))
            skills.append(mask)
            community.append(call.community)
            available.append(hours)
    workers = Workers(
        ids=old.ids + ids,
        names=old.names + names,
        kind=np.concatenate([old.kind, np.array(kind, dtype=old.kind.dtype)]),
        skills=np.concatenate([old.skills, np.array(skills, dtype=old.skills.dtype)]),
        community=np.concatenate([old.community, np.array(community, dtype=old.community.dtype)]),
        available=old.available + available,
    )
    return replace(scenario, workers=workers)


def community_name(scenario: Scenario, community: int) -> str:
    return "(any)" if community == NO_REF else scenario.communities[community]
