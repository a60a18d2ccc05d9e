"""Planners' what-if scenarios: each change does what it says, forks load as parent + changes, and the
fork → solve → compare round trip works through the CLI (a real process) and the API (embedded worker),
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import replace
from typing import Any

import numpy as np
import openpyxl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from scheduler.domain import KINDS, LEVELS, SKILL_BIT, Scenario
from scheduler.ledger import read_scenario
from scheduler.limits import SolverLimits
from scheduler.schedule import DOORSTEP, POINT
from scheduler.whatif import (
    KINDS_OF_CHANGE,
    AddWorkers,
    Change,
    ClosePoint,
    OpenPoint,
    RemoveWorker,
    SetDesks,
    SetSetting,
    SetZone,
    WhatIfError,
    apply_changes,
    change_from_dict,
    change_to_dict,
    compare_kpis,
    point_differences,
)
from store import versions, whatif
from store.settings import get_settings
from tests.ledgers import EXAMPLES
from tests.test_api import API, Solved, api_settings, assert_problem, make_tokens, solved, store_published  # noqa: F401
from tests.test_cli import sched, url_of
from workers import fanout
from workers.broker import broker
from workers.jobs import request_solve
from workers.solving import run_solve_job

DEMO = EXAMPLES / "demo-community"
SEALED_BUILDING = "C0001-K01-B008"  # sealed in the demo's zones.csv
CONTROLLED_COMPOUND = "C0001-K03"


@pytest.fixture(scope="module")
def demo(salt: bytes) -> Scenario:
    return read_scenario(DEMO, salt=salt)


def level_of(scenario: Scenario, building_id: str) -> str:
    return LEVELS[int(scenario.building_level()[scenario.buildings.ids.index(building_id)])]


def refused(scenario: Scenario, change: Change, *words: str) -> None:
    """Applying `change` raises a WhatIfError naming the change and each of `words`."""
    with pytest.raises(WhatIfError) as caught:
        apply_changes(scenario, [ClosePoint(scenario.points.ids[0]), change])
    message = str(caught.value)
    assert message.startswith(f"change 2 ({change_to_dict(change)['kind']}):"), message
    for word in words:
        assert word in message, message


# --- the changes, pure ------------------------------------------------------------------------------


def test_close_point_removes_its_row_and_leaves_the_parent_alone(demo: Scenario) -> None:
    """Closing a point drops exactly that row; the parent scenario is not modified; an unknown point is named."""
    closed = apply_changes(demo, [ClosePoint("P00001")])
    assert closed.points.ids == ["P00002"] and demo.points.ids == ["P00001", "P00002"]
    assert closed.points.desks.tolist() == demo.points.desks[1:].tolist()
    assert closed.points.hours == demo.points.hours[1:]
    refused(demo, ClosePoint("P99"), "'P99'")


def test_open_point_appends_a_checked_point(demo: Scenario) -> None:
    """A new point is appended with its hours read and its compound's community; bad fields are refused by name."""
    new = OpenPoint("P9", 30.27, 120.15, 3, "7:00-12:00", name="新点", compound_id=CONTROLLED_COMPOUND)
    opened = apply_changes(demo, [new])
    assert opened.points.ids[-1] == "P9" and opened.points.desks[-1] == 3
    assert opened.points.hours[-1].windows == ((420, 720),)
    assert opened.points.compound[-1] == demo.compounds.index(CONTROLLED_COMPOUND)
    assert opened.points.community[-1] == demo.communities.index("C0001")
    refused(demo, replace(new, point_id="P00002"), "already exists")
    refused(demo, replace(new, hours="14:00－5:00"), "cannot read hours")
    refused(demo, replace(new, compound_id="K?"), "no compound 'K?'")
    refused(demo, replace(new, community_id="C9"), "no community 'C9'")
    refused(demo, replace(new, desks=-1), "desks -1")


def test_desks_and_workers_change_as_asked(demo: Scenario) -> None:
    """Desks are set, a worker is removed, added workers have the kind, skills, community and ids asked for."""
    changed = apply_changes(
        demo,
        [
            SetDesks("P00002", 5),
            RemoveWorker("W000001"),
            AddWorkers("medical", ("sample", "doorstep"), 3, "C0001", "07:00-19:00"),
            AddWorkers("cadre", ("order",), 2, id_prefix="X"),
        ],
    )
    assert changed.points.desks.tolist() == [demo.points.desks[0], 5]
    assert "W000001" not in changed.workers.ids and len(changed.workers) == len(demo.workers) - 1 + 5
    assert changed.workers.ids[-5:] == ["+medical-1", "+medical-2", "+medical-3", "X1", "X2"]
    assert (
        changed.workers.skills[-5:].tolist()
        == [SKILL_BIT["sample"] | SKILL_BIT["doorstep"]] * 3 + [SKILL_BIT["order"]] * 2
    )
    assert changed.workers.kind[-5:].tolist() == [KINDS.index("medical")] * 3 + [KINDS.index("cadre")] * 2
    assert changed.workers.community[-5:].tolist() == [0, 0, 0, -1, -1]
    assert changed.workers.available[-1].round_the_clock
    refused(demo, SetDesks("P7", 2), "no point 'P7'")
    refused(demo, RemoveWorker("W9"), "no worker 'W9'")
    refused(demo, AddWorkers("doctor", ("sample",)), "worker_kind 'doctor'")
    refused(demo, AddWorkers("medical", ("swab",)), "skills")
    refused(demo, AddWorkers("medical", ("sample",), 0), "count 0")
    refused(demo, AddWorkers("medical", ("sample",), id_prefix="W00000"), "'W000001' already exists")


def test_zone_change_replaces_its_target_and_normal_lifts_it(demo: Scenario) -> None:
    """A zone change replaces that target's zone (normal lifts it, other scopes still apply); unknown targets named."""
    assert level_of(demo, SEALED_BUILDING) == "sealed"
    lifted = apply_changes(demo, [SetZone("normal", "building", SEALED_BUILDING)])
    assert level_of(lifted, SEALED_BUILDING) == "normal" and len(lifted.zones) == len(demo.zones) - 1
    sealed = apply_changes(demo, [SetZone("sealed", "compound", CONTROLLED_COMPOUND)])
    inside = [b for b, k in zip(demo.buildings.ids, demo.buildings.compound, strict=True) if k == 2]
    assert inside and all(level_of(sealed, b) == "sealed" for b in inside)
    assert len(sealed.zones) == len(demo.zones)  # the compound's controlled zone was replaced, not added to
    refused(demo, SetZone("sealed", "building", "B?"), "no building 'B?'")
    refused(demo, SetZone("closed", "building", SEALED_BUILDING), "level 'closed'")


def test_settings_change_generically_and_bad_ones_are_refused(demo: Scenario) -> None:
    """days, desk rate and round_hours change the round; unknown keys, zero rates and fractions of ints are refused."""
    changed = apply_changes(demo, [SetSetting("days", 2), SetSetting("desk_rate_per_hour", 90)])
    assert changed.settings.n_slots == 2 * demo.settings.n_slots and changed.settings.desk_rate_per_hour == 90
    short = apply_changes(demo, [SetSetting("round_hours", 10)])
    assert short.settings.round_minutes == 600 and short.settings.days == demo.settings.days
    refused(demo, SetSetting("start", 1), "unknown setting 'start'")
    refused(demo, SetSetting("desk_rate_per_hour", 0), "must be positive")
    refused(demo, SetSetting("days", 1.5), "not a whole number")
    refused(demo, SetSetting("max_shift_hours", 0.25), "shorter than one slot")
    refused(demo, SetSetting("round_hours", 0.25), "shorter than one 30-minute slot")


def test_every_change_kind_round_trips_through_its_dict() -> None:
    """Each kind of change survives change_to_dict → change_from_dict; unknown kinds and fields are refused."""
    samples: list[Change] = [
        ClosePoint("P1"),
        OpenPoint("P9", 30.0, 120.0, 2, "24小时", community_id="C1"),
        SetDesks("P1", 4),
        RemoveWorker("W1"),
        AddWorkers("volunteer", ("order", "register"), 2, None, "08:00-20:00", "V"),
        SetZone("sealed", "building", "B1"),
        SetSetting("desk_rate_per_hour", 100),
    ]
    assert sorted(change_to_dict(c)["kind"] for c in samples) == sorted(KINDS_OF_CHANGE)
    for change in samples:
        assert change_from_dict(json.loads(json.dumps(change_to_dict(change)))) == change
    with pytest.raises(WhatIfError, match="unknown change kind 'paint'"):
        change_from_dict({"kind": "paint"})
    with pytest.raises(WhatIfError, match="unknown field"):
        change_from_dict({"kind": "close_point", "point_id": "P1", "colour": "red"})
    with pytest.raises(WhatIfError, match="close_point"):
        change_from_dict({"kind": "close_point"})


def test_compare_names_the_better_side_and_the_points_that_differ() -> None:
    """KPI rows carry B − A and the better side by direction; points differ by open state or residents."""
    a = {"residents": 10, "covered": 8, "walk_m_total": 100.0, "unserved": [{}, {}], "staff_hours": 5.0}
    shortfall = [{"start": "2022-04-12T07:00", "end": "2022-04-12T09:30", "workers": 2, "role": "sample"}]
    b = {**a, "covered": 10, "walk_m_total": 120.0, "unserved": [], "staff_shortfall": shortfall}
    rows = {r.key: r for r in compare_kpis(a, b)}
    assert (rows["covered"].delta, rows["covered"].better) == (2, "b")
    assert (rows["coverage"].a, rows["coverage"].b) == (0.8, 1.0)
    assert (rows["walk_m_total"].delta, rows["walk_m_total"].better) == (20.0, "a")
    assert (rows["unserved"].a, rows["unserved"].b, rows["unserved"].better) == (2, 0, "b")
    assert (rows["staff_hours"].delta, rows["staff_hours"].better) == (0.0, None)
    assert rows["staff_shortfall_worker_hours"].b == 5.0 and rows["staff_shortfall_worker_hours"].a is None
    diffs = point_differences(["P1", "P2", "P3"], {"P1": 5, "P2": 3}, ["P2", "P3", "P4"], {"P2": 3, "P4": 5})
    assert [(d.point_id, d.a_state, d.b_state, d.delta) for d in diffs] == [
        ("P1", "open", "closed", -5),
        ("P4", "closed", "open", 5),
    ]


# --- forks in the database --------------------------------------------------------------------------


def loads_by_point(engine: Engine, scenario_id: int, version_id: int) -> dict[str, int]:
    """Residents per point in a stored version, counted from its visits."""
    scenario = versions.load_scenario(engine, scenario_id)
    schedule = versions.load_schedule(engine, version_id, scenario)
    counts = np.bincount(schedule.point[schedule.mode == POINT], minlength=len(scenario.points))
    return {p: int(n) for p, n in zip(scenario.points.ids, counts, strict=True)}


def test_a_fork_loads_as_parent_plus_changes_and_freezes_once_solved(
    db_engine: Engine,
    solved: dict[str, Solved],  # noqa: F811
    salt: bytes,
) -> None:
    """A fork copies no ledger row, loads as its parent with its changes (forks of forks too), and takes more
    changes only until it has a version or a fork."""
    parent, _ = store_published(db_engine, solved["demo"], salt)
    child = whatif.fork(db_engine, parent, "no P00001", [ClosePoint("P00001")])
    with db_engine.connect() as conn:
        assert whatif.ledger_scenario_id(conn, child) == parent
        for table in ("building", "resident", "point", "worker", "zone"):
            query = (
                versions.SQLModel.metadata.tables[table]
                .select()
                .where(versions.SQLModel.metadata.tables[table].c.scenario_id == child)
            )
            assert conn.execute(query).first() is None, table
    whatif.add_changes(db_engine, child, [SetSetting("desk_rate_per_hour", 100)])
    grandchild = whatif.fork(db_engine, child, "and fewer staff", [RemoveWorker("W000001")])
    loaded = versions.load_scenario(db_engine, grandchild)
    assert loaded.points.ids == ["P00002"] and loaded.settings.desk_rate_per_hour == 100
    assert "W000001" not in loaded.workers.ids and loaded.settings.name == "and fewer staff"
    assert len(loaded.residents) == len(solved["demo"].scenario.residents)
    assert loaded.residents.id_hash == solved["demo"].scenario.residents.id_hash
    with pytest.raises(whatif.ForkFrozen, match="has fork"):
        whatif.add_changes(db_engine, child, [SetDesks("P00002", 1)])
    with pytest.raises(WhatIfError, match="change 1 \\(close_point\\): no point 'P00001'"):
        whatif.fork(db_engine, child, "again", [ClosePoint("P00001")])  # closed in the parent already
    with pytest.raises(whatif.NoSuchScenario):
        whatif.fork(db_engine, 999_999, "nothing", [])


def test_a_fork_takes_no_change_while_its_job_is_under_way(
    db_engine: Engine,
    solved: dict[str, Solved],  # noqa: F811
    salt: bytes,
) -> None:
    """A change posted while the fork's solve is queued is refused (its version would not hold it); once that
    job has failed without a version, changes are taken again."""
    parent, _ = store_published(db_engine, solved["demo"], salt)
    child = whatif.fork(db_engine, parent, "no P00001", [ClosePoint("P00001")])
    job = request_solve(db_engine, child, cause="what-if")
    try:
        with pytest.raises(whatif.ForkFrozen, match="under way"):
            whatif.add_changes(db_engine, child, [SetDesks("P00002", 1)])
        with db_engine.begin() as conn:
            conn.execute(whatif.JOB.update().where(whatif.JOB.c.id == job).values(status="failed"))
        whatif.add_changes(db_engine, child, [SetDesks("P00002", 1)])
        assert versions.load_scenario(db_engine, child).points.desks.tolist() == [1]
    finally:
        broker.flush_all()


def test_more_samplers_reduce_the_shortfall_in_the_workers(
    db_engine: Engine,
    solved: dict[str, Solved],  # noqa: F811
    salt: bytes,
) -> None:
    """Solved by the workers' job path: without 8 medical workers the demo is short of staff; adding samplers back in
    a fork of that fork removes the shortfall, and the comparison says so."""
    parent, _ = store_published(db_engine, solved["demo"], salt)
    short = whatif.fork(db_engine, parent, "8 off", [RemoveWorker(f"W{n:06d}") for n in range(1, 9)])
    more = whatif.fork(db_engine, short, "+6", [AddWorkers("medical", ("sample", "register"), 6, "C0001", "7-19")])
    limits = SolverLimits(time_limit_s=10)
    for scenario_id in (short, more):
        job = request_solve(db_engine, scenario_id, cause="what-if")
        assert run_solve_job(db_engine, job, limits) == "done"
    broker.flush_all()
    found = whatif.compare(db_engine, short, more)
    rows = {r.key: r for r in found.kpis}
    assert (rows["staff_shortfall_worker_hours"].a or 0) > 0 and rows["staff_shortfall_worker_hours"].b == 0
    assert rows["staff_shortfall_worker_hours"].better == "b" and rows["unserved"].better == "b"
    assert rows["covered"].b == rows["residents"].b


# --- a fork starts from its parent's schedule, and its views show its own points --------------------------


def solve_in_the_workers(engine: Engine, scenario_id: int) -> int:
    """Solve a scenario on the workers' job path; its newly published version."""
    job = request_solve(engine, scenario_id, cause="what-if")
    assert run_solve_job(engine, job, SolverLimits(time_limit_s=10)) == "done"
    broker.flush_all()
    version = versions.newest_published(engine, scenario_id)
    assert version is not None
    return version


def visits_by_id(scenario: Scenario, schedule: Any) -> list[tuple[Any, ...]]:
    """Per resident row: (mode, point id, team name, start, end)."""
    point = np.array([*scenario.points.ids, None], dtype=object)[schedule.point].tolist()
    team = np.array([*schedule.teams, None], dtype=object)[schedule.team].tolist()
    mode, start, end = schedule.mode.tolist(), schedule.start.tolist(), schedule.end.tolist()
    return list(zip(mode, point, team, start, end, strict=True))


def test_a_fork_starts_from_its_parents_schedule(
    db_engine: Engine,
    solved: dict[str, Solved],  # noqa: F811
    salt: bytes,
) -> None:
    """A fork without a version of its own is solved (workers' path) from its parent's published schedule: closing
    P00001 gives each of its residents another place, and the other residents keep their visit (at most 1% of them
    change, where a solve from scratch shuffles about 1,000 slots)."""
    parent, version = store_published(db_engine, solved["demo"], salt)
    child = whatif.fork(db_engine, parent, "P00001 closed", [ClosePoint("P00001")])
    child_version = solve_in_the_workers(db_engine, child)
    parent_scenario = versions.load_scenario(db_engine, parent)
    child_scenario = versions.load_scenario(db_engine, child)
    before = visits_by_id(parent_scenario, versions.load_schedule(db_engine, version, parent_scenario))
    after = visits_by_id(child_scenario, versions.load_schedule(db_engine, child_version, child_scenario))
    at_closed = np.array([v[1] == "P00001" for v in before], dtype=bool)
    same = np.array([a == b for a, b in zip(before, after, strict=True)], dtype=bool)
    changed, others = int((~same[~at_closed]).sum()), int((~at_closed).sum())
    assert at_closed.any() and not same[at_closed].any()
    assert changed <= others // 100, f"{changed} of {others} residents of other points changed their visit"
    found = whatif.compare(db_engine, parent, child)
    assert found.residents_moved == int(at_closed.sum())
    assert found.residents_differ - found.residents_moved <= len(before) // 100
    rows = {r.key: r for r in found.kpis}
    assert rows["doorstep_completion_all_minutes"].a == rows["doorstep_completion_all_minutes"].b  # routes re-planned
    assert whatif.start_from(db_engine, parent, parent_scenario) is None  # an imported scenario starts from nothing


def test_a_forks_views_show_its_points_staff_and_zones(
    db_engine: Engine,
    solved: dict[str, Solved],  # noqa: F811
    salt: bytes,
) -> None:
    """A fork's map, counts, loads, point roster and residents, unserved, teams, printables and export read its
    ledger's rows with its changes: the point it closes is gone (404), the one it opens is there with its residents,
    the workers it adds are on the roster with their kind, the building it seals is sealed on its map."""
    parent, _ = store_published(db_engine, solved["demo"], salt)
    sealed = "C0001-K02-B001"
    with db_engine.connect() as conn:
        closed = whatif.point_rows(conn, parent)[0]
    assert closed["point_id"] == "P00001"
    opened = OpenPoint("P9", closed["lat"] + 0.0005, closed["lon"], 2, closed["hours"], name="新采样点")
    changes: list[Change] = [
        ClosePoint("P00001"),
        opened,
        AddWorkers("medical", ("sample", "register"), 2),
        AddWorkers("cadre", ("lead", "order"), 2),
        SetZone("sealed", "building", sealed),
    ]
    child = whatif.fork(db_engine, parent, "P00001 moved", changes)
    version = solve_in_the_workers(db_engine, child)
    scenario = versions.load_scenario(db_engine, child)
    schedule = versions.load_schedule(db_engine, version, scenario)
    at = {p: int(((schedule.mode == POINT) & (schedule.point == i)).sum()) for i, p in enumerate(scenario.points.ids)}
    assert scenario.points.ids == ["P00002", "P9"] and at["P9"] > 0

    tokens = make_tokens(db_engine)
    planner = {"Authorization": f"Bearer {tokens['planner']}"}
    app = create_app(api_settings(salt), engine=db_engine, embedded_worker=False)
    base = f"{API}/scenarios/{child}"
    with TestClient(app) as client:

        def get(path: str, status: int = 200, **params: Any) -> Any:
            response = client.get(f"{base}{path}", headers=planner, params=params)
            assert response.status_code == status, response.text
            return response

        listed = client.get(f"{API}/scenarios", headers=planner).json()
        assert [(s["id"], s["parent_id"]) for s in listed] == [(parent, None), (child, parent)]
        counts, ledger = get("").json()["counts"], client.get(f"{API}/scenarios/{parent}", headers=planner).json()
        assert (counts["points"], counts["desks"]) == (2, ledger["counts"]["desks"] - closed["desks"] + 2)
        assert counts["workers"] == ledger["counts"]["workers"] + 4
        assert {k: counts[k] for k in ("buildings", "residents")} == {
            k: ledger["counts"][k] for k in ("buildings", "residents")
        }

        shown = get("/map").json()
        parent_map = client.get(f"{API}/scenarios/{parent}/map", headers=planner).json()
        assert [p["point_id"] for p in shown["points"]] == ["P00002", "P9"]
        assert shown["points"][1]["name"] == "新采样点" and shown["points"][1]["hours"] == closed["hours"]
        levels = {b["building_id"]: b["level"] for b in shown["buildings"]}
        assert levels.keys() == {b["building_id"] for b in parent_map["buildings"]}
        assert levels[sealed] == "sealed" and levels[sealed] != level_of(solved["demo"].scenario, sealed)
        assert sum(b["residents"] for b in shown["buildings"]) == len(scenario.residents)

        loads = get("/schedule/loads").json()
        assert {p["point_id"]: sum(s["load"] for s in p["slots"]) for p in loads["points"]} == at
        get("/schedule/loads", 404, point_id="P00001")
        assert [p["point_id"] for p in get("/schedule/loads", point_id="P9").json()["points"]] == ["P9"]
        for point in ("P00001",):
            get(f"/schedule/points/{point}/residents", 404)
            get(f"/schedule/points/{point}/roster", 404)
            get(f"/schedule/print/points/{point}", 404)
        page = get("/schedule/points/P9/residents", limit=10_000).json()
        assert page["total"] == at["P9"] == len(page["residents"])
        assert all(r["building_id"] for r in page["residents"])

        roster = [d for p in ("P00002", "P9") for d in get(f"/schedule/points/{p}/roster").json()["duties"]]
        on_duty = schedule.roster.point != -1
        assert len(roster) == int(on_duty.sum())
        added = {d["worker_id"]: d["kind"] for d in roster if d["worker_id"].startswith("+medical-")}
        assert added and set(added.values()) == {"medical"}

        sheet = get("/schedule/print/points/P9", format="xlsx")
        book = openpyxl.load_workbook(io.BytesIO(sheet.content))
        assert len(list(book.worksheets[1].iter_rows(values_only=True))) - 1 == at["P9"]
        notices = list(csv.DictReader(io.StringIO(get("/schedule/print/notices.csv").content.decode("utf-8-sig"))))
        assert len(notices) == len(scenario.households)
        assert sum(n["point"] == "新采样点" for n in notices) > 0

        assert len(get("/schedule/unserved").json()["unserved"]) == len(schedule.unserved)
        teams = get("/schedule/teams").json()["teams"]
        assert sum(t["households"] for t in teams) == schedule.kpis["doorstep"]["doorstep_households"] > 0
        assignments = get("/schedule/export/assignments.csv").text.splitlines()
        assert len(assignments) - 1 == int((schedule.mode != 0).sum())


def test_a_fork_fans_out_by_its_ledgers_residents(
    db_engine: Engine,
    solved: dict[str, Solved],  # noqa: F811
    salt: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fan-out counts a fork's residents and communities in its ledger: with the threshold at 4, a fork of the
    tiny ledger (4 residents in 2 communities, none of its own rows) is cut into two parts."""
    monkeypatch.setattr(get_settings(), "fanout_min_residents", 4)
    monkeypatch.setattr(get_settings(), "fanout_part_residents", 2)
    parent, _ = store_published(db_engine, solved["tiny"], salt)
    child = whatif.fork(db_engine, parent, "P1 closed", [ClosePoint("P1")])
    job = request_solve(db_engine, child, cause="what-if")
    try:
        assert fanout.fan_out_job(db_engine, job) == fanout.FANNED
        with db_engine.connect() as conn:
            parts = fanout.SOLVE_PART_TABLE
            assert conn.execute(sa.select(sa.func.count()).where(parts.c.job_id == job)).scalar_one() == 2
    finally:
        broker.flush_all()


# --- the round trip through the CLI and the API --------------------------------------------------------


def test_cli_fork_solve_compare_round_trip(db_engine: Engine, solved: dict[str, Solved], salt: bytes) -> None:  # noqa: F811
    """`sched whatif fork/solve` and `sched compare`: closing P00001 moves exactly its residents to P00002."""
    url = url_of(db_engine)
    parent, version = store_published(db_engine, solved["demo"], salt)
    bad = sched("whatif", "fork", str(parent), "--name", "x", "--desks", "P7=2", database_url=url)
    assert bad.returncode == 2 and "change 1 (set_desks): no point 'P7'" in bad.stderr
    forked = sched(
        "whatif", "fork", str(parent), "--name", "P00001 closed", "--close-point", "P00001", database_url=url
    )
    assert forked.returncode == 0, forked.stderr
    child = int(forked.stdout.split()[-1])
    assert sched("compare", str(parent), str(child), database_url=url).returncode == 2  # not solved yet
    solved_child = sched("whatif", "solve", str(child), database_url=url)
    assert solved_child.returncode == 0, solved_child.stderr
    assert "published version" in solved_child.stdout
    listed = sched("whatif", "list", database_url=url)
    assert "P00001 closed" in listed.stdout
    result = sched("compare", str(parent), str(child), "--json", database_url=url)
    assert result.returncode == 0, result.stderr
    comparison = json.loads(result.stdout)
    moved = loads_by_point(db_engine, parent, version)["P00001"]
    assert moved > 0
    assert [(p["point_id"], p["a_state"], p["b_state"], p["delta"]) for p in comparison["points"]] == [
        ("P00001", "open", "closed", -moved),
        ("P00002", "open", "open", moved),
    ]
    assert comparison["residents_moved"] == moved <= comparison["residents_differ"]
    table = sched("compare", str(parent), str(child), database_url=url)
    assert "walking, total (m)" in table.stdout and "P00001" in table.stdout
    assert f"{moved} of them a different place" in table.stdout


def poll(client: TestClient, href: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while (status := client.get(href, headers=headers).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return status


def test_api_fork_solve_compare_round_trip(db_engine: Engine, solved: dict[str, Solved], salt: bytes) -> None:  # noqa: F811
    """Planners fork, solve (embedded worker) and compare through the API; bad changes are 422 problems naming the
    change; coordinators see no forks; a zone change posted to a fork re-solves the fork."""
    parent, version = store_published(db_engine, solved["demo"], salt)
    tokens = make_tokens(db_engine)
    planner = {"Authorization": f"Bearer {tokens['planner']}"}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    coordinator = {"Authorization": f"Bearer {tokens['demo']}"}
    app = create_app(api_settings(salt), engine=db_engine, embedded_worker=True)
    forks = f"{API}/planner/scenarios/{parent}/forks"
    with TestClient(app) as client:
        body = {"name": "bad", "changes": [{"kind": "close_point", "point_id": "P00001"}, {"kind": "close_point"}]}
        problem = assert_problem(client.post(forks, json=body, headers=planner), 422)
        assert problem["invalid_params"][0]["name"].startswith("body.changes.1")
        body = {"name": "bad", "changes": [{"kind": "set_desks", "point_id": "P7", "desks": 2}]}
        problem = assert_problem(client.post(forks, json=body, headers=planner), 422)
        assert problem["detail"] == "change 1 (set_desks): no point 'P7'"
        assert_problem(client.post(f"{API}/planner/scenarios/999999/forks", json=body, headers=planner), 404)
        assert_problem(client.post(forks, json=body, headers=coordinator), 403)

        body = {"name": "P00001 closed", "changes": [{"kind": "close_point", "point_id": "P00001"}]}
        created = client.post(forks, json=body, headers=planner)
        assert created.status_code == 201, created.text
        child = created.json()["id"]
        assert created.headers["location"] == f"{API}/planner/scenarios/{child}"
        shown = client.get(f"{API}/planner/scenarios/{child}", headers=planner).json()
        assert (shown["parent_id"], shown["changes"], shown["version_id"]) == (parent, body["changes"], None)
        assert_problem(client.get(f"{API}/planner/compare", params={"a": parent, "b": child}, headers=planner), 409)
        assert_problem(client.post(f"{API}/planner/scenarios/{parent}/solve", headers=planner), 404)  # not a fork

        # Coordinators see no forks: not in their list, not by id.
        listed = client.get(f"{API}/scenarios", headers=coordinator).json()
        assert [s["id"] for s in listed] == [parent]
        assert_problem(client.get(f"{API}/scenarios/{child}", headers=coordinator), 403)

        accepted = client.post(f"{API}/planner/scenarios/{child}/solve", headers=planner)
        assert accepted.status_code == 202, accepted.text
        status = poll(client, accepted.json()["href"], planner)
        assert status["status"] == "done" and status["cause"] == "what-if", status
        frozen = client.post(
            f"{API}/planner/scenarios/{child}/changes", json={"changes": body["changes"]}, headers=planner
        )
        assert_problem(frozen, 409)

        comparison = client.get(f"{API}/planner/compare", params={"a": parent, "b": child}, headers=planner)
        assert comparison.status_code == 200, comparison.text
        found = comparison.json()
        moved = loads_by_point(db_engine, parent, version)["P00001"]
        assert (found["a"]["version_id"], found["b"]["version_id"]) == (version, status["version_id"])
        assert found["points"][0] == {
            "point_id": "P00001",
            "a_state": "open",
            "b_state": "closed",
            "a_residents": moved,
            "b_residents": 0,
            "delta": -moved,
        }
        assert found["residents_moved"] == moved
        assert {r["key"] for r in found["kpis"]} >= {"coverage", "walk_m_total", "max_slot_utilisation"}
        assert {r["key"] for r in found["kpis"]} >= {"staff_hours", "staff_shortfall_worker_hours"}
        assert "doorstep_completion_minutes" in {r["key"] for r in found["kpis"]}
        entries = client.get(f"{API}/planner/scenarios", headers=planner).json()
        assert [(e["id"], e["parent_id"]) for e in entries] == [(parent, None), (child, parent)]

        # A zone change on the fork goes through the coordinators' path (an admin's) and re-solves the fork.
        building = "C0001-K02-B001"
        change = {"level": "sealed", "scope": "building", "target_id": building, "effective_at": "2022-04-12T10:00"}
        posted = client.post(f"{API}/scenarios/{child}/zone-changes", json=change, headers=admin)
        assert posted.status_code == 202, posted.text
        deadline = time.monotonic() + 120
        while (newest := versions.newest_published(db_engine, child)) == status["version_id"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert newest is not None
        resealed = versions.load_scenario(db_engine, child)
        assert level_of(resealed, building) == "sealed" and resealed.points.ids == ["P00002"]
        schedule = versions.load_schedule(db_engine, newest, resealed)
        inside = resealed.residents.building == resealed.buildings.ids.index(building)
        assert inside.any() and (schedule.mode[inside] == DOORSTEP).all()  # all at the door now


def test_planner_schema_examples_are_valid_changes() -> None:
    """The changes the OpenAPI document shows as examples are accepted by the API's models."""
    from api.routes.planner import CHANGE_EXAMPLES, ForkRequest

    request = ForkRequest.model_validate({"name": "x", "changes": CHANGE_EXAMPLES})
    assert [c.change() for c in request.changes] == [change_from_dict(c) for c in CHANGE_EXAMPLES]  # type: ignore[arg-type]


def test_whatif_commands_have_help() -> None:
    """`sched whatif …` and `sched compare` answer --help."""
    for command in (("whatif", "fork"), ("whatif", "list"), ("whatif", "show"), ("whatif", "solve"), ("compare",)):
        result = sched(*command, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout, command


def test_dashboard_serves_the_comparison_view() -> None:
    """The dashboard page holds the comparison card and loads whatif.js, which calls the planners' endpoints."""
    from store.engine import make_engine

    app = create_app(api_settings(b"pages"), engine=make_engine("sqlite://"), embedded_worker=False)
    with TestClient(app) as client:
        page = client.get("/dashboard")
        assert page.status_code == 200 and 'id="whatif-card"' in page.text
        assert '<script src="/assets/whatif.js" defer></script>' in page.text
        script = client.get("/assets/whatif.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert "/planner/scenarios" in script.text and "/planner/compare?a=" in script.text
        i18n = client.get("/assets/i18n.js").text
        assert i18n.count('"cmp.title"') == 2  # Chinese and English
