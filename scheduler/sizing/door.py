"""Door teams: households the door plan cannot visit within the round, and door samplers to call in.

Per community, the households left without a door visit; each needs
`doorstep_minutes_per_household` at the door plus walking, which `DOOR_WALK_FACTOR`
allows for; a called-in door sampler (medical, `sample;doorstep`) is available the whole
round and may work `max_day_hours` of it. The verification re-plans the routes with them.
"""

from __future__ import annotations

import math

from scheduler.domain import Scenario
from scheduler.doorstep import DoorstepPlan
from scheduler.sizing.workers import Call, round_text

DOOR_WALK_FACTOR = 1.5  # door minutes per household, walking between doors included, over the visit alone


def door_gaps(scenario: Scenario, plan: DoorstepPlan) -> dict[int, int]:
    """Households without a door visit, per community row."""
    building = scenario.household_building
    community = scenario.buildings.community
    out: dict[int, int] = {}
    for h, _ in plan.unserved:
        c = int(community[building[h]])
        out[c] = out.get(c, 0) + 1
    return out


def door_calls(scenario: Scenario, gaps: dict[int, int]) -> list[Call]:
    """Door samplers per community, enough for its unvisited households' door minutes."""
    st = scenario.settings
    per_worker = min(st.max_day_hours * 60 * st.round_days, st.round_minutes)
    calls = []
    for c, households in sorted(gaps.items()):
        minutes = households * st.doorstep_minutes_per_household * DOOR_WALK_FACTOR
        count = max(1, math.ceil(minutes / per_worker))
        calls.append(Call("doorstep", c, round_text(st), int(per_worker), count))
    return calls
