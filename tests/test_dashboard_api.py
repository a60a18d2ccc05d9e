"""What the dashboard needs from the server besides the other views: the map view (buildings with coordinates
and zone levels, points) within a token's scope and after zone changes, and the pages with their assets,
served from this server only. On SQLite and PostgreSQL (`world` from tests/test_api.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from api.routes.dashboard import ASSET_TYPES, ASSETS, building_levels
from tests.test_api import World, assert_problem, solved, world  # noqa: F401
from workers.jobs import record_zone_change

WHEN = datetime(2022, 3, 14, 10, 0)


def map_of(app: World, who: str, scenario_id: int) -> dict[str, dict[str, Any]]:
    body = app.get(who, f"/scenarios/{scenario_id}/map").json()
    return {
        "buildings": {b["building_id"]: (b["level"], b["residents"], b["community_id"]) for b in body["buildings"]},
        "points": {p["point_id"]: (p["lat"], p["lon"]) for p in body["points"]},
    }


def test_map_holds_zone_levels_and_keeps_to_the_scope(world: World) -> None:  # noqa: F811
    """tiny's zones (sealed B2, precaution community C1, controlled compound K3) colour its buildings, each with its
    head count; C2's coordinator gets C2's buildings and their point plus the public one; another's scenario is 403."""
    everyone = map_of(world, "planner", world.tiny)
    assert everyone["buildings"] == {
        "B1": ("precaution", 1, "C1"),
        "B2": ("sealed", 2, "C1"),
        "B3": ("controlled", 1, "C2"),
    }
    assert everyone["points"] == {"P1": (34.26, 108.94), "P2": (34.27, 108.95), "P3": (34.28, 108.96)}
    c2 = map_of(world, "c2", world.tiny)
    assert c2["buildings"] == {"B3": ("controlled", 1, "C2")}
    assert sorted(c2["points"]) == ["P1", "P3"]
    assert sorted(map_of(world, "c1", world.tiny)["points"]) == ["P1", "P2"]
    assert_problem(world.get("demo", f"/scenarios/{world.tiny}/map"), 403)
    assert_problem(world.get("admin", "/scenarios/999999/map"), 404)
    assert_problem(world.client.get(f"/api/v1/scenarios/{world.tiny}/map"), 401)


def test_map_shows_zone_changes_once_a_version_applied_them(world: World) -> None:  # noqa: F811
    """A recorded change shows on the map only when a published version applied it; lifting B2's seal leaves the
    community's precaution, sealing compound K1 seals B1."""
    lifted = record_zone_change(
        world.engine, world.tiny, level="normal", scope="building", target_id="B2", effective_at=WHEN
    )
    sealed = record_zone_change(
        world.engine, world.tiny, level="sealed", scope="compound", target_id="K1", effective_at=WHEN
    )
    assert map_of(world, "c1", world.tiny)["buildings"]["B2"][0] == "sealed"  # not applied yet
    with world.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE zone_change SET applied_version_id = :v WHERE id IN (:a, :b)"),
            {"v": world.tiny_version, "a": lifted, "b": sealed},
        )
    levels = {b: v[0] for b, v in map_of(world, "c1", world.tiny)["buildings"].items()}
    assert levels == {"B1": "sealed", "B2": "precaution"}


def test_building_levels_take_the_strictest_zone() -> None:
    """A building takes the strictest of its community's, compound's and own zone; no zone is normal."""
    buildings = [("B1", "K1", "C1"), ("B2", "K1", "C1"), ("B3", "K2", "C2")]
    zones = [("precaution", "community", "C1"), ("controlled", "compound", "K1"), ("precaution", "building", "B2")]
    assert building_levels(buildings, zones) == {"B1": "controlled", "B2": "controlled", "B3": "normal"}


def test_pages_and_their_assets_come_from_this_server_only(world: World) -> None:  # noqa: F811
    """The dashboard and resident pages answer in the Accept-Language's language with a policy allowing only this
    server; every asset they name is served with its type; no asset names another host; others are 404."""
    for path in ("/dashboard", "/resident"):
        english = world.client.get(path, headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert english.status_code == 200 and english.headers["content-type"].startswith("text/html")
        assert '<html lang="en">' in english.text
        policy = english.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self';" in policy and "http" not in policy
        chinese = world.client.get(path, headers={"Accept-Language": "zh-CN"})
        assert '<html lang="zh-CN">' in chinese.text
        for asset in re.findall(r'(?:src|href)="(/assets/[^"]+)"', english.text):
            served = world.client.get(asset)
            assert served.status_code == 200, asset
            assert served.headers["content-type"] == ASSET_TYPES[asset.removeprefix("/assets/")]
    for name in ASSET_TYPES:
        text = (ASSETS / name).read_text("utf-8").replace("http://www.w3.org/2000/svg", "")  # a name, not a fetch
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name  # no CDN, fonts, tiles
    assert_problem(world.client.get("/assets/../main.py"), 404)
    assert_problem(world.client.get("/assets/dashboard.html"), 404)
    home = world.client.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/resident"
