"""The nearest-neighbour baseline: the plan's own teams, each repeatedly taking the nearest unvisited door.

What a coordinator does by hand: whenever a team is free (earliest first), it goes to the
nearest building of its community with an unvisited household (sealed and bedridden ones
while any are left), samples one household, and so on until its duty window (the one
the plan routed it in) holds no further visit. Used by the benchmark and the tests to
show what the router gains.
"""

from __future__ import annotations

import heapq

import numpy as np

from scheduler.domain import Scenario
from scheduler.doorstep.plan import SEALED, DoorstepPlan, household_reasons, tier_of
from scheduler.doorstep.stops import Places


def nearest_neighbour(scenario: Scenario, households: np.ndarray, plan: DoorstepPlan) -> dict[str, float | int]:
    """Completion, team-hours and households served by the baseline with the plan's teams and duty windows."""
    st = scenario.settings
    visit_s = st.doorstep_minutes_per_household * 60
    slot_s = st.slot_minutes * 60
    households = np.unique(np.asarray(households, dtype=np.int64))
    reason = household_reasons(scenario, households)
    tier = tier_of(reason)
    building = scenario.household_building[households].astype(np.int64)
    community = scenario.buildings.community[building].astype(np.int64)
    team_community = np.full(len(plan.teams), -1, dtype=np.int64)
    first = np.flatnonzero(plan.routes.seq == 1)
    team_community[plan.routes.team[first]] = scenario.buildings.community[
        scenario.household_building[plan.routes.household[first]]
    ]

    departs: list[int] = []
    sealed_departs: list[int] = []
    team_seconds = 0
    for c in np.unique(community).tolist():
        mine = community == c
        places = Places.of(scenario, building[mine])
        place = places.index(building[mine])
        n_tiers = int(tier.max()) + 1
        # Unvisited households per (tier, place), each a stack in household order.
        left: list[list[list[tuple[int, bool]]]] = [[[] for _ in places.building] for _ in range(n_tiers)]
        for h, t, p, r in sorted(
            zip(households[mine].tolist(), tier[mine].tolist(), place.tolist(), reason[mine].tolist(), strict=True),
            reverse=True,
        ):
            left[t][p].append((h, r == SEALED))
        counts = np.array([[len(q) for q in row] for row in left], dtype=np.int64)
        queue = [(plan.windows[k][0], k, -1) for k in np.flatnonzero(team_community == c).tolist()]
        heapq.heapify(queue)
        last: dict[int, int] = {}
        while queue:
            now, k, at = heapq.heappop(queue)
            end = plan.windows[k][1]
            for t in range(n_tiers):
                open_places = np.flatnonzero(counts[t] > 0)
                if not len(open_places):
                    continue
                steps = places.walk[at, open_places] if at >= 0 else np.zeros(len(open_places), dtype=np.int64)
                best = int(np.argmin(steps))
                p, step = int(open_places[best]), int(steps[best])
                if now + step + visit_s <= end:
                    _, sealed = left[t][p].pop()
                    counts[t, p] -= 1
                    depart = now + step + visit_s
                    departs.append(depart)
                    if sealed:
                        sealed_departs.append(depart)
                    last[k] = depart
                    heapq.heappush(queue, (depart, k, p))
                break  # the nearest door of the most urgent tier left, or the team stops
        for k, depart in last.items():
            team_seconds += -(-depart // slot_s) * slot_s - plan.windows[k][0]
    finish = sealed_departs or departs
    return {
        "doorstep_households": len(departs),
        "unserved_households": len(households) - len(departs),
        "completion_minutes": round(max(finish) / 60, 1) if finish else 0.0,
        "team_hours": round(team_seconds / 3600, 2),
    }
