"""What a caller may see: planners and admins every community, a coordinator only theirs.

A scenario is visible to a coordinator when one of its buildings lies in their communities; its
lists (residents, unserved, diffs, exports) are cut to those communities. Acting on a whole
scenario (a solve) needs every one of its communities. Planners' what-if forks have no buildings
of their own, so coordinators never see them; planners and admins do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlmodel import SQLModel

from api.auth import Principal
from api.problems import ProblemError
from store.whatif import ledger_scenario_id, point_rows

_t = SQLModel.metadata.tables
SCENARIO, BUILDING, POINT = _t["scenario"], _t["building"], _t["point"]


def scenario_communities(conn: Connection, scenario_id: int) -> set[str]:
    query = sa.select(BUILDING.c.community_id).where(BUILDING.c.scenario_id == scenario_id).distinct()
    return set(conn.execute(query).scalars())


def visible_scenario_ids(conn: Connection, principal: Principal) -> sa.Select[Any] | None:
    """A subquery of the scenario ids the caller sees; None: all of them."""
    if not principal.scoped:
        return None
    return (
        sa.select(BUILDING.c.scenario_id).where(BUILDING.c.community_id.in_(sorted(principal.communities))).distinct()
    )


def scenario_for(conn: Connection, principal: Principal, scenario_id: int, *, whole: bool = False) -> RowMapping:
    """The scenario row, if the caller may see it (`whole`: act on all of it); else a 404 or 403 problem."""
    row = conn.execute(sa.select(SCENARIO).where(SCENARIO.c.id == scenario_id)).mappings().one_or_none()
    if row is None:
        raise ProblemError(404, f"no scenario {scenario_id}", kind="not-found")
    if principal.scoped:
        communities = scenario_communities(conn, scenario_id)
        outside = communities - principal.communities
        if whole and outside:
            raise ProblemError(
                403,
                f"scenario {scenario_id} also covers {len(outside)} communit(ies) outside this token's scope",
                kind="out-of-scope",
            )
        if not communities & principal.communities:
            raise ProblemError(403, f"scenario {scenario_id} has none of this token's communities", kind="out-of-scope")
    return row


def community_filter(principal: Principal) -> frozenset[str] | None:
    """The communities whose rows a list may show; None: all."""
    return principal.communities if principal.scoped else None


def point_for(conn: Connection, principal: Principal, scenario_id: int, point_id: str) -> Mapping[str, Any]:
    """A point of the scenario the caller may look into: of their communities, or public; else 404/403.

    A what-if fork's points are those its changes leave: a point it closes is not found, one it opens is.
    """
    found = point_rows(conn, scenario_id, sa.select(POINT).where(POINT.c.point_id == point_id))
    row = next((p for p in found if p["point_id"] == point_id), None)
    if row is None:
        raise ProblemError(404, f"no point {point_id!r} in scenario {scenario_id}", kind="not-found")
    community = point_community(conn, scenario_id, row["community_id"], row["compound_id"])
    if community is not None and not principal.sees(community):
        raise ProblemError(403, f"point {point_id!r} belongs to another community", kind="out-of-scope")
    return row


def point_community(
    conn: Connection, scenario_id: int, community_id: str | None, compound_id: str | None
) -> str | None:
    """A point's community: its own, or (in-compound point) its compound's; None for a public point."""
    if community_id is not None or compound_id is None:
        return community_id
    query = sa.select(BUILDING.c.community_id).where(
        BUILDING.c.scenario_id == ledger_scenario_id(conn, scenario_id), BUILDING.c.compound_id == compound_id
    )
    found: str | None = conn.execute(query.limit(1)).scalar_one_or_none()
    return found


def target_community(conn: Connection, scenario_id: int, scope: str, target_id: str) -> str | None:
    """The community a zone change's target lies in; None when the scenario has no such target."""
    if scope == "community":
        column = BUILDING.c.community_id
    elif scope == "compound":
        column = BUILDING.c.compound_id
    else:
        column = BUILDING.c.building_id
    ledger = ledger_scenario_id(conn, scenario_id)  # a what-if fork's targets are its ledger's
    query = sa.select(BUILDING.c.community_id).where(BUILDING.c.scenario_id == ledger, column == target_id)
    found: str | None = conn.execute(query.limit(1)).scalar_one_or_none()
    return found
