"""Printables: a point's workbook and print page, a doorstep team's route sheet and the SMS notice file, read
back (openpyxl, csv) and compared with the solver's own schedule; their scopes; and the pure writers'
guards (no formulas, escaped markup, no id number or phone).

The API tests run on SQLite and PostgreSQL (`world` from tests/test_api.py: the tiny and demo ledgers
solved by the real solver and published).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import openpyxl

from api.routes.printables import XLSX
from scheduler import printables
from scheduler.domain import FLAGS, KINDS, NO_REF, Scenario, names_of
from scheduler.schedule import DOORSTEP, POINT, ROLES, Schedule
from tests.test_api import Solved, World, assert_problem, solved, store_published, world  # noqa: F401
from tests.test_api_lookup import PEOPLE

ROLE_EN = {role: printables.term(role, "en") for role in ROLES}


def moment(scenario: Scenario, seconds: int) -> datetime:
    return scenario.settings.start + timedelta(seconds=int(seconds))


def sheet_rows(content: bytes, index: int) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """(header, rows) of one sheet of a workbook."""
    book = openpyxl.load_workbook(io.BytesIO(content))
    rows = list(book.worksheets[index].iter_rows(values_only=True))
    return list(rows[0]), rows[1:]


def duties_at(
    scenario: Scenario, schedule: Schedule, *, point: int = NO_REF, team: int = NO_REF
) -> list[tuple[Any, ...]]:
    """The schedule's duties at a point or in a team, as the workbooks write them (English labels)."""
    roster, workers = schedule.roster, scenario.workers
    at = np.flatnonzero(roster.point == point) if point != NO_REF else np.flatnonzero(roster.team == team)
    return [
        (
            moment(scenario, roster.start[i]),
            moment(scenario, roster.end[i]),
            ROLE_EN[ROLES[roster.role[i]]],
            workers.ids[roster.worker[i]],
            workers.names[roster.worker[i]],
            printables.term(KINDS[workers.kind[roster.worker[i]]], "en"),
        )
        for i in at.tolist()
    ]


def test_point_workbook_holds_the_roster_and_every_resident_in_slot_order(
    world: World,  # noqa: F811
    solved: dict[str, Solved],  # noqa: F811
) -> None:
    """The point's .xlsx: sheet 1 its duties by time, sheet 2 exactly the residents the solver sent there, slot by
    slot, with household, building and compound, as real date-times."""
    demo = solved["demo"]
    scenario, schedule = demo.scenario, demo.schedule
    response = world.get(
        "demo", f"/scenarios/{world.demo}/schedule/print/points/P00001", params={"format": "xlsx", "lang": "en"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert f"v{world.demo_version}-point-P00001.xlsx" in response.headers["content-disposition"]

    header, rows = sheet_rows(response.content, 1)
    assert header == ["Start", "End", "Household", "Resident", "Building", "Compound", "Sampled"]
    here = np.flatnonzero((schedule.mode == POINT) & (schedule.point == 0)).tolist()
    building = scenario.residents.building
    expected = sorted(
        (
            moment(scenario, schedule.start[r]),
            moment(scenario, schedule.end[r]),
            scenario.households[scenario.residents.household[r]],
            scenario.residents.ids[r],
            scenario.buildings.ids[building[r]],
            scenario.compounds[scenario.buildings.compound[building[r]]],
            None,
        )
        for r in here
    )
    assert rows == sorted(rows, key=lambda row: (row[0], row[3]))  # slot order
    assert sorted(rows) == expected and len(rows) == len(here) > 0

    header, duties = sheet_rows(response.content, 0)
    assert header == ["Start", "End", "Role", "Worker", "Name", "Kind"]
    assert sorted(duties) == sorted(duties_at(scenario, schedule, point=0)) and duties
    assert [d[0] for d in duties] == sorted(d[0] for d in duties)


def test_point_print_page_lists_each_slot_with_its_residents(
    world: World,  # noqa: F811
    solved: dict[str, Solved],  # noqa: F811
) -> None:
    """The print page (Chinese) has one section per slot holding exactly that slot's residents, no script, and a
    policy that lets it fetch nothing."""
    demo = solved["demo"]
    scenario, schedule = demo.scenario, demo.schedule
    response = world.get("demo", f"/scenarios/{world.demo}/schedule/print/points/P00002", params={"lang": "zh"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page = response.text
    assert "<script" not in page and "采样点排班与居民名单" in page
    sections = re.findall(r'<section class="slot"><h3>(.*?)</h3>(.*?)</section>', page, re.S)
    shown = {
        heading.split(" · ")[0]: re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", body) for heading, body in sections
    }
    expected: dict[str, list[str]] = {}
    here = np.flatnonzero((schedule.mode == POINT) & (schedule.point == 1)).tolist()
    for r in sorted(here, key=lambda r: (schedule.start[r], scenario.residents.ids[r])):
        window = printables.window(moment(scenario, schedule.start[r]), moment(scenario, schedule.end[r]))
        expected.setdefault(window, []).append(scenario.residents.ids[r])
    assert shown == expected and len(shown) > 1
    assert list(shown) == sorted(shown)


def test_route_sheet_follows_the_teams_route(
    world: World,  # noqa: F811
    solved: dict[str, Solved],  # noqa: F811
) -> None:
    """A team's .xlsx: its members' duties, then its doors in route order with arrival, household, building,
    compound, head count and flags, as the solver planned them."""
    demo = solved["demo"]
    scenario, schedule = demo.scenario, demo.schedule
    routes = schedule.routes
    team = 0
    stops = sorted(np.flatnonzero(routes.team == team).tolist(), key=lambda i: routes.seq[i])
    members = np.bincount(scenario.residents.household, minlength=len(scenario.households))
    flags = scenario.household_flags()
    expected = []
    for i in stops:
        h = routes.household[i]
        b = scenario.household_building[h]
        expected.append(
            (
                int(routes.seq[i]),
                moment(scenario, routes.arrive[i]),
                moment(scenario, routes.depart[i]),
                scenario.households[h],
                scenario.buildings.ids[b],
                scenario.compounds[scenario.buildings.compound[b]],
                int(members[h]),
                printables.flag_text(names_of(int(flags[h]), FLAGS), "en") or None,
                None,
            )
        )
    team_id = schedule.teams[team]
    response = world.get(
        "demo", f"/scenarios/{world.demo}/schedule/print/teams/{team_id}", params={"format": "xlsx", "lang": "en"}
    )
    assert response.status_code == 200, response.text
    header, rows = sheet_rows(response.content, 1)
    assert header[:4] == ["#", "Arrive", "Leave", "Household"]
    # seconds may not be whole: openpyxl keeps them to the millisecond
    assert [row[:1] + tuple(v.replace(microsecond=0) for v in row[1:3]) + row[3:] for row in rows] == [
        e[:1] + tuple(v.replace(microsecond=0) for v in e[1:3]) + e[3:] for e in expected
    ]
    assert len(rows) > 0
    _, duties = sheet_rows(response.content, 0)
    assert sorted(duties) == sorted(duties_at(scenario, schedule, team=team)) and duties
    page = world.get("demo", f"/scenarios/{world.demo}/schedule/print/teams/{team_id}", params={"lang": "en"}).text
    assert page.count('<td class="tick">') == len(stops) and "Doorstep route sheet" in page


def test_teams_and_route_sheets_keep_to_the_coordinators_communities(
    world: World,  # noqa: F811
    solved: dict[str, Solved],  # noqa: F811
) -> None:
    """The teams list shows a coordinator the teams at their doors only; another community's route sheet is 403, an
    unknown team 404; the demo's list matches the solver's teams."""
    listed = {who: world.get(who, f"/scenarios/{world.tiny}/schedule/teams").json()["teams"] for who in ("c1", "c2")}
    assert [(t["team_id"], t["households"]) for t in listed["c1"]] == [("T-C1-01", 1)]
    assert [(t["team_id"], t["households"]) for t in listed["c2"]] == [("T-C2-01", 1)]
    assert world.get("c2", f"/scenarios/{world.tiny}/schedule/print/teams/T-C2-01").status_code == 200
    assert_problem(world.get("c2", f"/scenarios/{world.tiny}/schedule/print/teams/T-C1-01"), 403)
    assert_problem(world.get("admin", f"/scenarios/{world.tiny}/schedule/print/teams/T-NONE"), 404)
    assert_problem(world.get("admin", f"/scenarios/{world.demo}/schedule/print/teams/P00001"), 404)  # a point
    assert_problem(world.get("c1", f"/scenarios/{world.tiny}/schedule/print/points/P3"), 403)

    demo = solved["demo"].schedule
    teams = world.get("demo", f"/scenarios/{world.demo}/schedule/teams").json()["teams"]
    doors = np.bincount(demo.routes.team, minlength=len(demo.teams))
    assert {t["team_id"]: t["households"] for t in teams} == {
        name: int(doors[i]) for i, name in enumerate(demo.teams) if doors[i]
    }
    assert all(t["members"] >= 1 for t in teams)


def read_notices(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads it as UTF-8
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_notice_file_has_one_line_per_household_with_its_visit(
    world: World,  # noqa: F811
    solved: dict[str, Solved],  # noqa: F811
) -> None:
    """The demo's notice file has exactly one line per household, each with the point (or door) and time of its
    members' visit and its address, and holds no id number or phone of the ledger."""
    demo = solved["demo"]
    scenario, schedule = demo.scenario, demo.schedule
    response = world.get("demo", f"/scenarios/{world.demo}/schedule/print/notices.csv", params={"lang": "zh"})
    lines = read_notices(response)
    assert len(lines) == len(scenario.households)
    assert sorted(line["household_id"] for line in lines) == sorted(scenario.households)
    first: dict[str, int] = {}
    for r in range(len(scenario.residents)):
        first.setdefault(scenario.households[scenario.residents.household[r]], r)
    names = scenario.points.names
    for line in lines:
        r = first[line["household_id"]]
        mode = {POINT: "point", DOORSTEP: "doorstep"}[int(schedule.mode[r])]
        b = scenario.residents.building[r]
        assert (line["mode"], line["building_id"], line["compound_id"]) == (
            mode,
            scenario.buildings.ids[b],
            scenario.compounds[scenario.buildings.compound[b]],
        )
        assert line["point"] == (names[schedule.point[r]] if mode == "point" else "")
        start, end = moment(scenario, schedule.start[r]), moment(scenario, schedule.end[r])
        assert datetime.fromisoformat(line["start"]) == start.replace(second=0)
        assert printables.window(start, end)[:16] in line["message"] and line["building_id"] in line["message"]
    text = response.content.decode("utf-8-sig")
    assert PEOPLE and not any(p["id_number"] in text or p["phone"] in text for p in PEOPLE.values())


def test_notices_follow_the_scope_and_name_the_unscheduled(
    world: World,  # noqa: F811
    solved: dict[str, Solved],  # noqa: F811
    salt: bytes,
) -> None:
    """C2's coordinator gets their one household; a household without a visit gets an `unscheduled` line."""
    c2 = read_notices(world.get("c2", f"/scenarios/{world.tiny}/schedule/print/notices.csv"))
    assert [(n["household_id"], n["mode"]) for n in c2] == [("H3", "doorstep")]
    everyone = read_notices(world.get("admin", f"/scenarios/{world.tiny}/schedule/print/notices.csv"))
    assert {n["household_id"]: n["mode"] for n in everyone} == {"H1": "unscheduled", "H2": "doorstep", "H3": "doorstep"}
    unscheduled = next(n for n in everyone if n["mode"] == "unscheduled")
    assert unscheduled["start"] == "" and "尚未排定" in unscheduled["message"]


def test_printables_need_a_token_a_published_version_and_a_known_format(
    world: World,  # noqa: F811
    solved: dict[str, Solved],  # noqa: F811
    salt: bytes,
) -> None:
    """No token: 401; a scenario without a published version: 404; an unknown format or language: 422."""
    path = f"/scenarios/{world.demo}/schedule/print/points/P00001"
    assert_problem(world.client.get(f"/api/v1{path}"), 401)
    assert_problem(world.get("demo", path, params={"format": "pdf"}), 422)
    assert_problem(world.get("demo", path, params={"lang": "fr"}), 422)
    unpublished, _ = store_published(world.engine, solved["bare"], salt, publish_it=False)
    for view in ("print/points/P1", "print/teams/T-C1-01", "print/notices.csv", "teams"):
        body = assert_problem(world.get("admin", f"/scenarios/{unpublished}/schedule/{view}"), 404)
        assert "no published schedule" in body["detail"]


# --- the pure writers ----------------------------------------------------------------------------

AT = datetime(2022, 4, 12, 8, 0)


def test_ledger_text_is_never_run_as_a_formula_nor_as_markup() -> None:
    """A formula-like name stays text in the workbook and the notice file; markup is escaped on the page."""
    hostile = '=HYPERLINK("http://evil.example","x")'
    duty = printables.Duty("W1", hostile, "medical", "sample", AT, AT + timedelta(hours=4))
    resident = printables.ListedResident(AT, AT + timedelta(minutes=30), "H1", "R1", "B1", "K1")
    sheet = printables.PointSheet("round", 1, "P1", "<script>alert(1)</script>", "8:00-12:00", [duty], [resident])
    book = openpyxl.load_workbook(io.BytesIO(printables.point_xlsx(sheet, "en")))
    cell = book.worksheets[0]["E2"]
    assert cell.value == hostile and cell.data_type == "s"
    page = printables.point_html(sheet, "en")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    out = io.StringIO()
    notice = printables.Notice("=1+1", "B1", "K1", "point", "@P", AT, AT + timedelta(minutes=30))
    assert printables.write_notices([notice], out, "en") == 1
    row = list(csv.reader(io.StringIO(out.getvalue())))[1]
    assert row[0] == "'=1+1" and row[4] == "'@P" and row[3] == "point"


def test_notice_messages_say_where_and_when_in_both_languages() -> None:
    """Point, doorstep and unscheduled notices name the address, the point and the window in Chinese and English."""
    end = AT + timedelta(minutes=30)
    at_point = printables.Notice("H1", "B1", "K1", "point", "东门广场", AT, end)
    door = printables.Notice("H2", "B2", "K1", "doorstep", "", AT, end)
    later = printables.Notice("H3", "B3", "K2", "unscheduled", "", None, None)
    assert printables.notice_message(at_point, "zh") == (
        "【核酸采样通知】K1 B1 住户：请全家于 2022-04-12 08:00–08:30 到 东门广场 采样，请携带身份证件、全程佩戴口罩。"
    )
    assert "come to 东门广场 on 2022-04-12 08:00–08:30" in printables.notice_message(at_point, "en")
    assert "上门采样" in printables.notice_message(door, "zh") and "to your door" in printables.notice_message(
        door, "en"
    )
    assert "K2 B3" in printables.notice_message(later, "zh") and "not scheduled" in printables.notice_message(
        later, "en"
    )
    overnight = printables.window(datetime(2022, 4, 12, 23, 30), datetime(2022, 4, 13, 0, 0))
    assert overnight == "2022-04-12 23:30–2022-04-13 00:00"
