"""The HTTP API for coordinators and planners: every endpoint, the token scopes, the problem responses.

Each test runs on SQLite and PostgreSQL (`db_engine`) against a real app on published versions of two
ledgers: `tiny` (communities C1 and C2, a public point, doorstep households) and the demo community
(C0001), solved by the real solver and stored with `store.versions`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openpyxl
import pytest
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from api.auth import create_token
from api.config import ApiSettings
from api.main import create_app
from scheduler.domain import Scenario
from scheduler.kpis import point_slot_loads
from scheduler.ledger import ledger_digest, read_scenario
from scheduler.plan import solve_schedule
from scheduler.schedule import POINT, ROLES, Schedule, write_schedule
from scheduler.staffing.capacity import on_duty, staffed_capacity
from store.ledger_import import import_scenario
from store.versions import publish, save_draft
from tests.ledgers import EXAMPLES, REPO, TINY, write_ledger
from workers.broker import broker

DEMO = EXAMPLES / "demo-community"
API = "/api/v1"
PROBLEM_JSON = "application/problem+json"


@dataclasses.dataclass(frozen=True)
class Solved:
    folder: Path
    scenario: Scenario
    schedule: Schedule


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory, salt: bytes) -> dict[str, Solved]:
    """The two ledgers read and solved once (the solver is pure); `bare` is tiny without staff."""
    tiny = write_ledger(tmp_path_factory.mktemp("tiny"))
    bare = write_ledger(tmp_path_factory.mktemp("bare"), {"workers.csv": ""})
    found = {}
    for name, folder in (("tiny", tiny), ("demo", DEMO), ("bare", bare)):
        scenario = read_scenario(folder, salt=salt)
        found[name] = Solved(folder, scenario, solve_schedule(scenario))
    return found


def store_published(engine: Engine, solved: Solved, salt: bytes, *, publish_it: bool = True) -> tuple[int, int]:
    """Import the ledger and store its schedule as a published version: (scenario id, version id)."""
    scenario_id, _ = import_scenario(engine, solved.scenario, ledger_digest(solved.folder, salt=salt))
    version_id = save_draft(
        engine, scenario_id, solved.schedule, cause="initial solve", parent_id=None, seed=0, scenario=solved.scenario
    )
    if publish_it:
        publish(engine, version_id)
    return scenario_id, version_id


def api_settings(salt: bytes, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "environment": "development",
        "hash_salt": SecretStr(salt.decode()),
        "redis_url": None,
        "lookup_client_limit": 10_000,
        "lookup_person_limit": 10_000,
        **overrides,
    }
    return ApiSettings(**values)


@dataclasses.dataclass
class World:
    client: TestClient
    engine: Engine
    tiny: int  # scenario ids
    demo: int
    tiny_version: int
    demo_version: int
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, path: str, **kwargs: Any) -> Any:
        return self.client.get(API + path, headers=self.auth(who), **kwargs)

    def post(self, who: str, path: str, **kwargs: Any) -> Any:
        return self.client.post(API + path, headers=self.auth(who), **kwargs)


TOKENS: dict[str, dict[str, Any]] = {
    "admin": {"role": "admin"},
    "planner": {"role": "planner"},
    "c1": {"role": "coordinator", "communities": ["C1"]},
    "c2": {"role": "coordinator", "communities": ["C2"]},
    "street": {"role": "coordinator", "communities": ["C1", "C2"], "street": "东门街道"},
    "demo": {"role": "coordinator", "communities": ["C0001"]},
}


def make_tokens(engine: Engine) -> dict[str, str]:
    return {name: create_token(engine, name=name, **spec)[0] for name, spec in TOKENS.items()}


@pytest.fixture
def world(db_engine: Engine, solved: dict[str, Solved], salt: bytes) -> Iterator[World]:
    """The app over a database holding both ledgers with a published version each, and a token per role."""
    tiny, tiny_version = store_published(db_engine, solved["tiny"], salt)
    demo, demo_version = store_published(db_engine, solved["demo"], salt)
    app = create_app(api_settings(salt), engine=db_engine, embedded_worker=False)
    with TestClient(app) as client:
        yield World(client, db_engine, tiny, demo, tiny_version, demo_version, make_tokens(db_engine))
    if isinstance(broker, StubBroker):  # what no worker took here must not reach a later test's worker
        broker.flush_all()


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and "type" in body
    return body


def zipped(files: dict[str, str], folder: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            if text:
                archive.writestr(folder + name, text.encode())
    return buffer.getvalue()


def workbook(files: dict[str, str]) -> bytes:
    """The ledger as one .xlsx workbook: a sheet per file, `scenario` as key/value rows."""
    book = openpyxl.Workbook()
    settings = book.active
    assert settings is not None
    settings.title = "scenario"
    settings.append(["key", "value"])
    for line in files["scenario.toml"].splitlines():
        key, _, value = line.partition("=")
        settings.append([key.strip(), value.strip().strip('"')])
    for name, text in files.items():
        if name.endswith(".csv") and text:
            sheet = book.create_sheet(name.removesuffix(".csv"))
            for row in csv.reader(io.StringIO(text)):
                sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def scenario_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM scenario")).scalar_one())


# --- service, tokens, problems ------------------------------------------------------------------


def test_health_and_openapi_document_every_error_as_problem(world: World) -> None:
    """Health answers ok; the OpenAPI document lists every route, each 4xx as an application/problem+json Problem."""
    assert world.client.get(f"{API}/health").json() == {"status": "ok"}
    document = world.client.get(f"{API}/openapi.json").json()
    assert "Problem" in document["components"]["schemas"]
    operations = [(path, op) for path, ops in document["paths"].items() for op in ops.values()]
    assert len(operations) >= 18
    for path, op in operations:
        errors = {code: r for code, r in op["responses"].items() if code.startswith("4")}
        assert path.endswith("/health") or errors, path
        for code, response in errors.items():
            assert list(response["content"]) == [PROBLEM_JSON], (path, code)


def test_missing_bad_revoked_and_expired_tokens_get_401(world: World) -> None:
    """No token, an unknown one, a revoked one and an expired one are all refused with 401 and WWW-Authenticate."""
    from api.auth import revoke_token

    body = assert_problem(world.client.get(f"{API}/scenarios"), 401)
    assert body["type"] == "urn:sched:problem:unauthenticated"
    for header in ("Bearer sched_nope", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 500):
        response = world.client.get(f"{API}/scenarios", headers={"Authorization": header})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    token, record = create_token(world.engine, name="old", role="admin")
    assert world.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert revoke_token(world.engine, record.id) and not revoke_token(world.engine, record.id)
    assert_problem(world.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"}), 401)
    expired, _ = create_token(world.engine, name="x", role="admin", expires_at=datetime.now(UTC) - timedelta(1))
    assert_problem(world.client.get(f"{API}/me", headers={"Authorization": f"Bearer {expired}"}), 401)


def test_token_records_keep_only_the_hash(world: World) -> None:
    """The api_token table holds a digest and a short prefix, never the token itself."""
    with world.engine.connect() as conn:
        stored = [str(v) for row in conn.execute(sa.text("SELECT * FROM api_token")) for v in row]
    for token in world.tokens.values():
        assert not any(token in value for value in stored)


def test_me_shows_role_and_scope(world: World) -> None:
    """/me tells a street coordinator their communities and street, an admin an empty (unlimited) list."""
    assert world.get("street", "/me").json() == {
        "name": "street",
        "role": "coordinator",
        "communities": ["C1", "C2"],
        "street": "东门街道",
    }
    assert world.get("admin", "/me").json()["communities"] == []


def test_unknown_paths_methods_and_bad_parameters_are_problems(world: World) -> None:
    """404, 405 and 422 (with the invalid parameter named) come as problems; huge ids are 422, not 500."""
    assert_problem(world.get("admin", "/nowhere"), 404)
    assert_problem(world.client.delete(f"{API}/scenarios", headers=world.auth("admin")), 405)
    body = assert_problem(world.get("admin", "/scenarios/abc"), 422)
    assert body["invalid_params"][0]["name"] == "path.scenario_id"
    assert_problem(world.get("admin", f"/scenarios/{2**63}"), 422)
    assert_problem(world.get("admin", f"/scenarios/{world.tiny}/schedule/points/a%00b/roster"), 422)


# --- ledgers -------------------------------------------------------------------------------------


def test_upload_zip_imports_once_and_answers_the_summary(world: World) -> None:
    """A zip of the CSV files (in a folder) imports with 201 and its counts; the same again is 200, created false."""
    ledger = {name: text.replace("C2", "C1") for name, text in TINY.items()}  # C1's own ledger
    files = {"file": ("tiny.zip", zipped(ledger, "tiny/"), "application/zip")}
    first = world.post("c1", "/scenarios", files=files)
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True
    summary = first.json()["scenario"]
    assert summary["counts"]["residents"] == 4 and summary["counts"]["points"] == 3
    again = world.post("c1", "/scenarios", files=files)
    assert again.status_code == 200 and again.json() == {**first.json(), "created": False}
    assert scenario_count(world.engine) == 3


def test_upload_xlsx_workbook(world: World) -> None:
    """An .xlsx workbook with the same sheets imports the same ledger as the CSV files."""
    ledger = {**TINY, "scenario.toml": TINY["scenario.toml"].replace('"tiny"', '"tiny workbook"')}
    response = world.post(
        "street", "/scenarios", files={"file": ("round.xlsx", workbook(ledger), "application/octet-stream")}
    )
    assert response.status_code == 201, response.text
    assert response.json()["scenario"]["name"] == "tiny workbook"
    assert response.json()["scenario"]["counts"]["workers"] == 3


def test_upload_with_row_errors_lists_every_problem_and_imports_nothing(world: World) -> None:
    """A ledger with two bad rows answers 422 with both problems named by file, line, column and value."""
    residents = TINY["residents.csv"].replace("R4,H3,B3", "R4,H3,B9").replace("infant", "baby")
    files = {"file": ("bad.zip", zipped({**TINY, "residents.csv": residents}), "application/zip")}
    body = assert_problem(world.post("admin", "/scenarios", files=files), 422)
    assert body["type"] == "urn:sched:problem:ledger-invalid"
    problems = {(p["file"], p["line"], p["column"], p["value"]) for p in body["ledger_problems"]}
    assert problems == {("residents.csv", 4, "flags", "baby"), ("residents.csv", 5, "building_id", "B9")}
    assert scenario_count(world.engine) == 2


def test_upload_of_another_community_is_refused(world: World) -> None:
    """A coordinator of C1 cannot upload a ledger that also covers C2; a planner cannot upload at all."""
    files = {
        "file": (
            "tiny.zip",
            zipped({**TINY, "scenario.toml": 'name = "other"\nstart = 2022-03-14T07:00:00\n'}),
            "application/zip",
        )
    }
    assert_problem(world.post("c1", "/scenarios", files=files), 403)
    assert_problem(world.post("planner", "/scenarios", files=files), 403)
    assert scenario_count(world.engine) == 2


def test_upload_that_is_no_ledger(world: World, salt: bytes) -> None:
    """Not a zip: 415; a zip without ledger files or a damaged one: 422; over the size limit: 413."""
    assert_problem(world.post("admin", "/scenarios", files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}), 415)
    body = assert_problem(
        world.post("admin", "/scenarios", files={"file": ("x.zip", zipped({"a.txt": "hi"}), "x")}), 422
    )
    assert "none of the ledger's files" in body["detail"]
    damaged = zipped(TINY)[:-40]
    assert world.post("admin", "/scenarios", files={"file": ("x.zip", damaged, "x")}).status_code in (415, 422)
    assert_problem(world.post("admin", "/scenarios", files={}), 422)
    small = create_app(api_settings(salt, max_upload_bytes=100), engine=world.engine, embedded_worker=False)
    with TestClient(small) as client:
        response = client.post(
            f"{API}/scenarios", headers=world.auth("admin"), files={"file": ("t.zip", zipped(TINY), "application/zip")}
        )
        assert_problem(response, 413)
    assert scenario_count(world.engine) == 2


# --- scenarios, scopes, jobs ----------------------------------------------------------------------


def test_scenario_lists_follow_the_scope(world: World) -> None:
    """A coordinator lists only scenarios with their communities; planners and admins list all."""
    ids = {who: [s["id"] for s in world.get(who, "/scenarios").json()] for who in ("c1", "c2", "demo", "planner")}
    assert ids == {"c1": [world.tiny], "c2": [world.tiny], "demo": [world.demo], "planner": [world.tiny, world.demo]}
    assert world.get("c1", f"/scenarios/{world.tiny}").json()["counts"]["residents"] == 4
    assert_problem(world.get("c1", f"/scenarios/{world.demo}"), 403)
    assert_problem(world.get("admin", "/scenarios/999999"), 404)


def test_solve_request_queues_a_job(world: World) -> None:
    """A solve answers 202 with a job id and Location; the job is queued; partial scope and planners are refused."""
    response = world.post("street", f"/scenarios/{world.tiny}/solve", json={"seed": 3})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == job["href"] == f"{API}/jobs/{job['job_id']}"
    status = world.get("c2", f"/jobs/{job['job_id']}").json()
    assert status["scenario_id"] == world.tiny and status["seed"] == 3
    assert status["status"] in ("queued", "running", "done", "failed")
    assert_problem(world.get("demo", f"/jobs/{job['job_id']}"), 403)
    assert_problem(world.get("admin", "/jobs/999999"), 404)
    assert_problem(world.post("c1", f"/scenarios/{world.tiny}/solve"), 403)  # C2 is not theirs
    assert_problem(world.post("planner", f"/scenarios/{world.tiny}/solve"), 403)
    assert_problem(world.post("admin", "/scenarios/999999/solve"), 404)


def test_solve_runs_in_the_embedded_worker_and_publishes(
    db_engine: Engine, solved: dict[str, Solved], salt: bytes
) -> None:
    """With the in-process worker, a requested solve ends done with a published version the views then read."""
    scenario_id, _ = import_scenario(
        db_engine, solved["tiny"].scenario, ledger_digest(solved["tiny"].folder, salt=salt)
    )
    tokens = make_tokens(db_engine)
    app = create_app(api_settings(salt), engine=db_engine, embedded_worker=True)
    headers = {"Authorization": f"Bearer {tokens['street']}"}
    with TestClient(app) as client:
        assert_problem(client.get(f"{API}/scenarios/{scenario_id}/schedule", headers=headers), 404)
        job = client.post(f"{API}/scenarios/{scenario_id}/solve", headers=headers).json()
        deadline = time.monotonic() + 60
        while (status := client.get(job["href"], headers=headers).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        assert status["status"] == "done", status
        published = client.get(f"{API}/scenarios/{scenario_id}/schedule", headers=headers).json()
        assert published["id"] == status["version_id"] and published["cause"] == "initial solve"
        assert published["kpis"]["residents"] == 4 and published["kpis"]["covered"] + published["unserved"] == 4


# --- versions -------------------------------------------------------------------------------------


def _moved(schedule: Schedule, rows: list[int], minutes: int) -> Schedule:
    """The schedule with these residents' visits later by `minutes`."""
    start, end = schedule.start.copy(), schedule.end.copy()
    start[rows] += minutes * 60
    end[rows] += minutes * 60
    return dataclasses.replace(schedule, start=start, end=end)


def community_of(scenario: Scenario) -> list[str]:
    """Each resident's community id."""
    return [scenario.communities[c] for c in scenario.buildings.community[scenario.residents.building]]


def test_versions_list_and_scoped_diff(world: World, solved: dict[str, Solved]) -> None:
    """A second version lists first with cause and changed count; its diff shows a coordinator their residents only."""
    tiny = solved["tiny"]
    communities = community_of(tiny.scenario)
    served = np.flatnonzero(tiny.schedule.mode != 0).tolist()
    one = {c: next(r for r in served if communities[r] == c) for c in ("C1", "C2")}
    moved = _moved(tiny.schedule, list(one.values()), 20)  # one served resident of each community
    second = save_draft(
        world.engine,
        world.tiny,
        moved,
        cause="zone change",
        parent_id=world.tiny_version,
        seed=0,
        scenario=tiny.scenario,
    )
    publish(world.engine, second)
    listed = world.get("c1", f"/scenarios/{world.tiny}/versions").json()
    assert [(v["id"], v["cause"], v["changed_visits"]) for v in listed] == [
        (second, "zone change", 2),
        (world.tiny_version, "initial solve", None),
    ]
    assert listed[0]["kpis"]["residents"] == 4 and "unserved" not in listed[0]["kpis"]
    assert world.get("c2", f"/scenarios/{world.tiny}/versions/{second}").json() == listed[0]

    def diff(who: str) -> dict[str, Any]:
        response = world.get(who, f"/scenarios/{world.tiny}/versions/{second}/diff")
        assert response.status_code == 200, response.text
        return response.json()

    ids = tiny.scenario.residents.ids
    assert [c["resident_id"] for c in diff("c1")["changes"]] == [ids[one["C1"]]]
    assert [c["resident_id"] for c in diff("c2")["changes"]] == [ids[one["C2"]]]
    change = diff("admin")["changes"][0]
    for key in ("mode", "point_id", "team_id"):
        assert change["old"][key] == change["new"][key]
    assert datetime.fromisoformat(change["new"]["start"]) - datetime.fromisoformat(change["old"]["start"]) == timedelta(
        minutes=20
    )
    assert (
        len(
            world.get("admin", f"/scenarios/{world.tiny}/versions/{second}/diff", params={"limit": 1}).json()["changes"]
        )
        == 1
    )
    assert diff("admin")["parent_id"] == world.tiny_version
    assert world.get("admin", f"/scenarios/{world.tiny}/versions/{world.tiny_version}/diff").json()["changes"] == []
    assert_problem(world.get("admin", f"/scenarios/{world.tiny}/versions/{world.demo_version}"), 404)
    assert_problem(world.get("demo", f"/scenarios/{world.tiny}/versions"), 403)
    # the views follow the newest published version; an older one stays readable by id
    assert world.get("c1", f"/scenarios/{world.tiny}/schedule").json()["id"] == second
    old = world.get("c1", f"/scenarios/{world.tiny}/schedule", params={"version_id": world.tiny_version})
    assert old.json()["id"] == world.tiny_version


def test_drafts_are_not_visible(world: World, solved: dict[str, Solved]) -> None:
    """A draft is not what the views read, and cannot be asked for by id."""
    draft = save_draft(
        world.engine,
        world.demo,
        _moved(solved["demo"].schedule, [0], 30),
        cause="what-if",
        parent_id=world.demo_version,
        seed=1,
        scenario=solved["demo"].scenario,
    )
    assert world.get("demo", f"/scenarios/{world.demo}/schedule").json()["id"] == world.demo_version
    assert_problem(world.get("demo", f"/scenarios/{world.demo}/schedule/loads", params={"version_id": draft}), 404)


# --- published views ------------------------------------------------------------------------------


def test_loads_equal_the_schedule_and_capacity_the_desks(world: World, solved: dict[str, Solved]) -> None:
    """Per point and slot, load and capacity are the scheduler's own (kpis.point_slot_loads, staffing.capacity)."""
    demo = solved["demo"]
    view = world.get("demo", f"/scenarios/{world.demo}/schedule/loads").json()
    assert view["version_id"] == world.demo_version and view["points_staffed"] is demo.schedule.points_staffed
    expected_load = point_slot_loads(demo.scenario, demo.schedule)
    expected_capacity = staffed_capacity(demo.scenario, on_duty(demo.scenario, demo.schedule.roster))
    settings = demo.scenario.settings
    for p, point in enumerate(view["points"]):
        assert point["point_id"] == demo.scenario.points.ids[p]
        load, capacity = np.zeros((2, settings.n_slots), dtype=np.int64)
        for slot in point["slots"]:
            k = int((datetime.fromisoformat(slot["start"]) - settings.start).total_seconds()) // (
                settings.slot_minutes * 60
            )
            load[k], capacity[k] = slot["load"], slot["capacity"]
            assert slot["load"] <= slot["capacity"]
        assert load.tolist() == expected_load[p].tolist()
        assert capacity.tolist() == expected_capacity[p].tolist()
        assert capacity.any()
    one = world.get("demo", f"/scenarios/{world.demo}/schedule/loads", params={"point_id": "P00002"}).json()
    assert [p["point_id"] for p in one["points"]] == ["P00002"]


def test_loads_are_cut_to_the_coordinators_points(world: World) -> None:
    """C2's coordinator sees their point and the public one, not C1's in-compound point; asking for it is 403."""
    points = [p["point_id"] for p in world.get("c2", f"/scenarios/{world.tiny}/schedule/loads").json()["points"]]
    assert points == ["P1", "P3"]
    assert_problem(world.get("c2", f"/scenarios/{world.tiny}/schedule/loads", params={"point_id": "P2"}), 403)
    assert_problem(world.get("c2", f"/scenarios/{world.tiny}/schedule/loads", params={"point_id": "P9"}), 404)


def test_point_residents_are_the_visits_in_slot_order(world: World, solved: dict[str, Solved]) -> None:
    """A point's list holds exactly the residents sent there, in slot order, paged; another community's point is 403."""
    demo = solved["demo"]
    at = np.flatnonzero((demo.schedule.mode == POINT) & (demo.schedule.point == 0))
    expected = sorted((int(demo.schedule.start[r]), demo.scenario.residents.ids[r]) for r in at)
    path = f"/scenarios/{world.demo}/schedule/points/P00001/residents"
    page = world.get("demo", path, params={"limit": 10_000}).json()
    assert page["total"] == len(expected)
    assert [r["resident_id"] for r in page["residents"]] == [rid for _, rid in expected]
    second = world.get("demo", path, params={"limit": 5, "offset": 5}).json()["residents"]
    assert second == page["residents"][5:10]
    assert_problem(world.get("c1", path), 403)
    assert_problem(world.get("c1", f"/scenarios/{world.tiny}/schedule/points/P3/residents"), 403)
    tiny = solved["tiny"]
    communities = community_of(tiny.scenario)
    at_public = np.flatnonzero((tiny.schedule.mode == POINT) & (tiny.schedule.point == 0)).tolist()
    for who in ("c1", "c2"):
        listed = world.get(who, f"/scenarios/{world.tiny}/schedule/points/P1/residents").json()["residents"]
        expected_ids = [tiny.scenario.residents.ids[r] for r in at_public if communities[r] == who.upper()]
        assert [r["resident_id"] for r in listed] == expected_ids


def test_point_roster_lists_the_duties_there(world: World, solved: dict[str, Solved]) -> None:
    """A point's roster is the schedule's duties at that point, with the worker's name and kind."""
    demo = solved["demo"]
    roster, workers = demo.schedule.roster, demo.scenario.workers
    for p, point_id in enumerate(demo.scenario.points.ids):
        got = world.get("demo", f"/scenarios/{world.demo}/schedule/points/{point_id}/roster").json()
        assert got["version_id"] == world.demo_version
        expected = sorted(
            (
                workers.ids[roster.worker[i]],
                workers.names[roster.worker[i]],
                ROLES[roster.role[i]],
                demo.scenario.settings.at(roster.start[i] // 60).isoformat(),
            )
            for i in np.flatnonzero(roster.point == p)
        )
        assert sorted((d["worker_id"], d["name"], d["role"], d["start"]) for d in got["duties"]) == expected
        assert all(d["kind"] in ("medical", "cadre", "community", "volunteer") for d in got["duties"])
    assert_problem(world.get("demo", f"/scenarios/{world.demo}/schedule/points/P404/roster"), 404)


def test_unserved_and_staffing_name_reasons_within_scope(world: World, solved: dict[str, Solved], salt: bytes) -> None:
    """Without staff, doorstep households are unserved with their reason; each coordinator sees their own only."""
    bare, _ = store_published(world.engine, solved["bare"], salt)
    scenario = solved["bare"].scenario
    expected = {scenario.residents.ids[u.resident]: u.reason for u in solved["bare"].schedule.unserved}
    assert {"R2", "R3", "R4"} <= set(expected)  # no staff: no door visits
    everyone = world.get("admin", f"/scenarios/{bare}/schedule/unserved").json()["unserved"]
    assert {u["resident_id"]: u["reason"] for u in everyone} == expected
    community = dict(zip(scenario.residents.ids, community_of(scenario), strict=True))
    c1 = world.get("c1", f"/scenarios/{bare}/schedule/unserved").json()["unserved"]
    assert {u["resident_id"] for u in c1} == {r for r in expected if community[r] == "C1"}
    c2 = world.get("c2", f"/scenarios/{bare}/schedule/unserved").json()["unserved"]
    assert [(u["resident_id"], u["community_id"], u["building_id"]) for u in c2] == [("R4", "C2", "B3")]
    staffing = world.get("c2", f"/scenarios/{bare}/schedule/staffing").json()
    kpis = solved["bare"].schedule.kpis
    assert staffing["staff_shortfall"] == kpis.get("staff_shortfall")
    assert staffing["staff_hours"] == kpis["staff_hours"]
    assert staffing["unserved_no_staff"] == sum(1 for u in c2 if u["reason"] == "no_staff")
    assert world.get("demo", f"/scenarios/{world.demo}/schedule/unserved").json()["unserved"] == []


def test_views_need_a_published_version(world: World, solved: dict[str, Solved], salt: bytes) -> None:
    """Before any publication every view answers 404 with a problem saying so."""
    scenario_id, _ = store_published(world.engine, solved["bare"], salt, publish_it=False)
    for view in ("", "/loads", "/unserved", "/staffing", "/points/P1/roster", "/export/assignments.csv"):
        body = assert_problem(world.get("admin", f"/scenarios/{scenario_id}/schedule{view}"), 404)
        assert "no published schedule" in body["detail"]


# --- exports --------------------------------------------------------------------------------------


def test_admin_export_is_the_contract_files_byte_for_byte(
    world: World, solved: dict[str, Solved], tmp_path: Path
) -> None:
    """The export of a published version equals write_schedule's files of the solved schedule."""
    demo = solved["demo"]
    write_schedule(demo.scenario, demo.schedule, tmp_path)
    for name in ("assignments.csv", "roster.csv", "routes.csv"):
        response = world.get("planner", f"/scenarios/{world.demo}/schedule/export/{name}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert f"v{world.demo_version}-{name}" in response.headers["content-disposition"]
        written = (tmp_path / name).read_bytes()
        if name == "roster.csv":  # stored duties come back by worker, the solver's by team: same rows
            assert sorted(response.content.splitlines()) == sorted(written.splitlines())
        else:
            assert response.content == written, name
    kpis = world.get("planner", f"/scenarios/{world.demo}/schedule/export/kpis.json").json()
    expected = json.loads((tmp_path / "kpis.json").read_text())
    assert {k: v for k, v in kpis.items() if not k.endswith("_seconds")} == {
        k: v for k, v in expected.items() if not k.endswith("_seconds")
    }
    assert_problem(world.get("planner", f"/scenarios/{world.demo}/schedule/export/secrets.txt"), 422)


def test_coordinator_export_holds_their_communities_only(world: World, solved: dict[str, Solved]) -> None:
    """C2's export lists R4 only, its team's duties and route, and says its scope in kpis.json."""
    tiny = solved["tiny"]
    communities = community_of(tiny.scenario)
    served = {
        c: sorted(
            tiny.scenario.residents.ids[r] for r in np.flatnonzero(tiny.schedule.mode != 0) if communities[r] == c
        )
        for c in ("C1", "C2")
    }

    def rows(who: str, name: str) -> list[dict[str, str]]:
        text = world.get(who, f"/scenarios/{world.tiny}/schedule/export/{name}").text
        return list(csv.DictReader(io.StringIO(text)))

    assert served["C2"] == ["R4"]
    assert sorted(r["resident_id"] for r in rows("c2", "assignments.csv")) == served["C2"]
    assert sorted(r["resident_id"] for r in rows("c1", "assignments.csv")) == served["C1"]
    c2_routes = rows("c2", "routes.csv")
    assert [r["household_id"] for r in c2_routes] == ["H3"]
    teams = {r["team_id"] for r in c2_routes}
    assert {r["place"] for r in rows("c2", "roster.csv")} <= teams | {"P1", "P3"}
    assert {r["household_id"] for r in rows("c1", "routes.csv")} == {"H2"}
    scope = world.get("c2", f"/scenarios/{world.tiny}/schedule/export/kpis.json").json()["scope"]
    assert scope["communities"] == ["C2"] and scope["residents"] == 1
    assert_problem(world.get("demo", f"/scenarios/{world.tiny}/schedule/export/assignments.csv"), 403)


# --- zone changes ---------------------------------------------------------------------------------


def test_zone_change_is_recorded_within_scope(world: World) -> None:
    """A coordinator's change to their building is recorded (202); another community's is 403, unknown 422."""
    change = {"level": "sealed", "scope": "building", "target_id": "B1", "effective_at": "2022-03-14T10:00:00"}
    response = world.post("c1", f"/scenarios/{world.tiny}/zone-changes", json=change)
    assert response.status_code == 202, response.text
    change_id = response.json()["zone_change_id"]
    with world.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT level, scope, target_id, scenario_id FROM zone_change WHERE id = :i"), {"i": change_id}
        ).one()
    assert tuple(row) == ("sealed", "building", "B1", world.tiny)
    listed = world.get("c1", f"/scenarios/{world.tiny}/zone-changes").json()
    assert [(c["id"], c["target_id"], c["applied_version_id"]) for c in listed] == [(change_id, "B1", None)]
    assert world.get("c2", f"/scenarios/{world.tiny}/zone-changes").json() == []
    assert_problem(world.post("c2", f"/scenarios/{world.tiny}/zone-changes", json=change), 403)
    compound = {**change, "scope": "compound", "target_id": "K3", "level": "normal"}
    assert world.post("c2", f"/scenarios/{world.tiny}/zone-changes", json=compound).status_code == 202
    body = assert_problem(
        world.post("admin", f"/scenarios/{world.tiny}/zone-changes", json={**change, "target_id": "B9"}), 422
    )
    assert "B9" in body["detail"]
    assert_problem(
        world.post(
            "c1", f"/scenarios/{world.tiny}/zone-changes", json={**change, "effective_at": "2022-03-14T10:00:00+08:00"}
        ),
        422,
    )
    assert_problem(world.post("c1", f"/scenarios/{world.tiny}/zone-changes", json={**change, "level": "red"}), 422)
    assert_problem(world.post("planner", f"/scenarios/{world.tiny}/zone-changes", json=change), 403)


# --- the token command ----------------------------------------------------------------------------


def sched(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "scheduler", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_token_command_creates_lists_and_revokes(world: World) -> None:
    """`sched token create` prints a working token once; `list` never shows it; `revoke` stops it at once."""
    url = world.engine.url.render_as_string(hide_password=False)
    created = sched(
        "token",
        "create",
        "--role",
        "coordinator",
        "--name",
        "锦园",
        "--community",
        "C1",
        "--community",
        "C2",
        "--street",
        "东门街道",
        database_url=url,
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert world.client.get(f"{API}/me", headers=headers).json()["communities"] == ["C1", "C2"]
    listed = sched("token", "list", database_url=url)
    assert "锦园" in listed.stdout and token not in listed.stdout and token[:10] in listed.stdout
    token_id = created.stderr.split()[1]
    assert sched("token", "revoke", token_id, database_url=url).returncode == 0
    assert_problem(world.client.get(f"{API}/me", headers=headers), 401)
    assert sched("token", "revoke", token_id, database_url=url).returncode == 1
    refused = sched("token", "create", "--role", "coordinator", "--name", "x", database_url=url)
    assert refused.returncode == 2 and "community" in refused.stderr


def test_serve_runs_the_api_on_embedded_defaults(tmp_path: Path) -> None:
    """`sched serve` with nothing but a SQLite path migrates it and answers health and the OpenAPI document."""
    port = 18000 + os.getpid() % 1000
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/sched.db"}
    server = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}{API}/health", timeout=1)
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    server.stderr.read() if server.stderr else ""
                )
                time.sleep(0.2)
        assert health.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}{API}/openapi.json").json()["info"]["title"]
        assert_problem(httpx.get(f"http://127.0.0.1:{port}{API}/scenarios"), 401)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert (tmp_path / "sched.db").exists()
