"""The staff shortfall a planner reads to call for more staff: by community, time and role.

"community C0012 needs 3 more samplers 07:00–11:00": per community (public points
together), role and run of consecutive slots in which the staff on duty fall short of what
the residents planned there need, the most workers missing at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.domain import NO_REF, Scenario
from scheduler.staffing.pool import LEAD, ORDER, POINT_ROLES, REGISTER, SAMPLE
from scheduler.staffing.templates import runs

ROLE_WORDS = {"sample": "samplers", "register": "registrars", "order": "order keepers", "lead": "leads"}
PUBLIC = "public points"


@dataclass(frozen=True)
class Shortfall:
    community: str  # community id, or PUBLIC
    role: str  # one of POINT_ROLES
    first: int  # first slot short
    stop: int  # slot after the last
    workers: int  # most workers missing at once in that time

    def text(self, scenario: Scenario) -> str:
        st = scenario.settings
        a, b = st.at(self.first * st.slot_minutes), st.at(self.stop * st.slot_minutes)
        one_day = st.days == 1 or a.date() == b.date()
        when = f"{a:%H:%M}–{b:%H:%M}" if one_day else f"{a:%m-%d %H:%M}–{b:%m-%d %H:%M}"
        where = PUBLIC if self.community == PUBLIC else f"community {self.community}"
        return f"{where} needs {self.workers} more {ROLE_WORDS[self.role]} {when}"

    def as_dict(self, scenario: Scenario) -> dict[str, object]:
        st = scenario.settings
        return {
            "community": self.community,
            "role": self.role,
            "start": st.at(self.first * st.slot_minutes).isoformat(timespec="minutes"),
            "end": st.at(self.stop * st.slot_minutes).isoformat(timespec="minutes"),
            "workers": self.workers,
            "text": self.text(scenario),
        }


def missing(need: np.ndarray, staff: np.ndarray) -> np.ndarray:
    """Workers missing per (POINT_ROLES, points, slots) for the `need` (points, roles, slots)."""
    wanted = need.transpose(1, 0, 2)
    short = np.maximum(wanted - staff, 0)
    short[LEAD] = np.minimum(short[LEAD], 1)
    return short


def shortfalls(scenario: Scenario, need: np.ndarray, staff: np.ndarray) -> list[Shortfall]:
    """Every (community, role, run of slots) where the staff fall short of `need`."""
    short = missing(need, staff)
    community = scenario.point_community()
    groups = sorted(set(community.tolist()), key=lambda c: (c == NO_REF, c))
    out: list[Shortfall] = []
    for c in groups:
        name = PUBLIC if c == NO_REF else scenario.communities[c]
        mine = community == c
        for r in (SAMPLE, REGISTER, ORDER, LEAD):
            per_slot = short[r, mine].sum(axis=0)
            for a, b in runs(per_slot > 0):
                out.append(Shortfall(name, POINT_ROLES[r], a, b, int(per_slot[a:b].max())))
    return out
