"""The dashboard and the resident page end to end, in a real headless Chromium (Debian's `chromium` and
`chromedriver`, driven by selenium; nothing downloaded).

The API runs as it is deployed on embedded defaults: `sched serve` (uvicorn) in a subprocess, on a temp
SQLite database holding the demo community solved and published, with the in-process worker, so a zone
change made in the dashboard is re-solved and published while the page polls. Screenshots (and the
server's log) go to test-artifacts/dashboard-e2e/. Without chromium, chromedriver or selenium the tests
skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from api.auth import create_token
from scheduler.schedule import POINT
from store.engine import make_engine, upgrade
from tests.ledgers import REPO
from tests.test_api import Solved, solved, store_published  # noqa: F401
from tests.test_api_lookup import PEOPLE

ARTIFACTS = REPO / "test-artifacts" / "dashboard-e2e"
API = "/api/v1"
WAIT_S = 30
RESOLVE_WAIT_S = 240  # a zone change: settle, re-solve the demo, validate, publish (a busy CI machine)
PERSON_LIMIT = 3  # the server's look-ups per person, so the page meets the rate limit early


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what}: CI must run the browser tests (.ci/run installs chromium chromium-driver)")
    pytest.skip(what)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - the dev dependencies hold selenium
    webdriver = None  # type: ignore[assignment]


@dataclasses.dataclass(frozen=True)
class Server:
    url: str
    token: str  # the demo community's coordinator
    scenario_id: int
    planner: str = ""  # a planner's token (the what-if comparison)

    def get(self, path: str, **kwargs: Any) -> Any:
        response = httpx.get(
            self.url + API + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=30, **kwargs
        )
        assert response.status_code == 200, response.text
        return response.json()

    def lookup(self, body: dict[str, str], lang: str) -> httpx.Response:
        return httpx.post(self.url + API + "/residents/lookup", json=body, headers={"Accept-Language": lang})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, solved: dict[str, Solved], salt: bytes) -> Iterator[Server]:  # noqa: F811
    """`sched serve` on a SQLite file with the demo published, a coordinator token, the embedded worker."""
    folder = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{folder / 'sched.db'}"
    engine = make_engine(url)
    upgrade(engine)
    scenario_id, _ = store_published(engine, solved["demo"], salt)
    token, _ = create_token(engine, name="锦园社区", role="coordinator", communities=["C0001"])
    planner, _ = create_token(engine, name="指挥部", role="planner")
    engine.dispose()
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": url,
        "HASH_SALT": salt.decode(),
        "LOOKUP_PERSON_LIMIT": str(PERSON_LIMIT),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}{API}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start (server.log)"
            time.sleep(0.2)
        yield Server(base, token, scenario_id, planner)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium asking for Chinese first (as most residents' phones do)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if webdriver is None:
        _missing("selenium is not installed")
    if chromium is None or driver is None:
        _missing("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    assert chromium is not None and driver is not None
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh,en"})
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium never fetches a driver or a browser
    session = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield session
    finally:
        session.quit()


def wait(browser: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = WAIT_S) -> Any:
    return WebDriverWait(browser, timeout, poll_frequency=0.2).until(condition)


def shot(browser: WebDriver, name: str) -> None:
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def css(browser: WebDriver | WebElement, selector: str) -> list[WebElement]:
    return list(browser.find_elements(By.CSS_SELECTOR, selector))


def sign_in(browser: WebDriver, server: Server) -> None:
    browser.get(server.url + "/dashboard")
    browser.execute_script("sessionStorage.clear(); localStorage.clear();")
    browser.get(server.url + "/dashboard")
    browser.find_element(By.ID, "token").send_keys(server.token)
    browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    wait(browser, lambda b: css(b, "#map [data-point-id]") and css(b, "#versions-table tbody tr"))


def ledger_ids(name: str) -> list[str]:
    """The first column of a demo ledger file."""
    lines = (REPO / "fixtures" / "examples" / "demo-community" / name).read_text("utf-8").splitlines()
    return [line.split(",", 1)[0] for line in lines[1:] if line]


def test_dashboard_plots_every_point_and_opens_a_points_load_chart(browser: WebDriver, server: Server) -> None:
    """Signed in, the map shows every point and building of the ledger (zones coloured), a point's chart has
    a bar per slot with the API's loads, its print page opens with its residents, and the toggle turns English."""
    sign_in(browser, server)
    assert "工作台" in browser.find_element(By.TAG_NAME, "h1").text  # Accept-Language zh chose the page's language
    points = {e.get_attribute("data-point-id") for e in css(browser, "#map [data-point-id]")}
    assert points == set(ledger_ids("points.csv"))
    buildings = {
        str(e.get_attribute("data-building-id")): e.get_attribute("data-level") for e in css(browser, "circle")
    }
    assert set(buildings) == set(ledger_ids("buildings.csv"))
    assert buildings["C0001-K01-B008"] == "sealed"  # zones.csv: sealed building B008, controlled compound K03
    assert {level for b, level in buildings.items() if b.startswith("C0001-K03-")} == {"controlled"}
    shot(browser, "01-dashboard")

    point_id = "P00002"
    browser.find_element(By.CSS_SELECTOR, f'#map [data-point-id="{point_id}"] rect').click()
    wait(browser, lambda b: css(b, f'#load-chart svg[data-point-id="{point_id}"] rect.bar') and css(b, "#roster-table"))
    loads = server.get(f"/scenarios/{server.scenario_id}/schedule/loads", params={"point_id": point_id})
    expected = [(s["start"], s["load"], s["capacity"]) for s in loads["points"][0]["slots"]]
    bars = [
        (
            b.get_attribute("data-start"),
            int(b.get_attribute("data-load") or -1),
            int(b.get_attribute("data-capacity") or -1),
        )
        for b in css(browser, "#load-chart rect.bar")
    ]
    assert bars == expected and any(load for _, load, _ in bars)
    roster = server.get(f"/scenarios/{server.scenario_id}/schedule/points/{point_id}/roster")["duties"]
    assert len(css(browser, "#roster-table tbody tr")) == len(roster) > 0
    shot(browser, "02-point-load-chart")

    dashboard = browser.current_window_handle
    browser.find_element(By.ID, "point-print").click()
    wait(browser, lambda b: len(b.window_handles) == 2)
    browser.switch_to.window(next(h for h in browser.window_handles if h != dashboard))
    wait(browser, lambda b: css(b, "section.slot"))
    listed = server.get(f"/scenarios/{server.scenario_id}/schedule/points/{point_id}/residents", params={"limit": 1})
    assert len(css(browser, "section.slot tbody tr")) == listed["total"]
    shot(browser, "03-point-print-page")
    browser.close()
    browser.switch_to.window(dashboard)

    browser.find_element(By.CSS_SELECTOR, 'button[data-lang="en"]').click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Testing round scheduler · coordinator dashboard"
    assert "busiest" in browser.find_element(By.ID, "point-summary").text


def test_zone_change_in_the_dashboard_brings_a_new_version_and_its_diff(browser: WebDriver, server: Server) -> None:
    """Sealing a building from the form records the change; the page polls until the re-solved version is
    published, then lists it first and shows its diff (the API's), and the building turns sealed on the map."""
    sign_in(browser, server)
    before = server.get(f"/scenarios/{server.scenario_id}/versions")
    building = "C0001-K01-B002"
    assert building not in {b for b, _ in _sealed(server)}
    Select(browser.find_element(By.ID, "zone-scope")).select_by_value("building")
    browser.find_element(By.ID, "zone-target").send_keys(building)
    Select(browser.find_element(By.ID, "zone-level")).select_by_value("sealed")
    browser.find_element(By.ID, "zone-submit").click()
    wait(browser, lambda b: "#" in b.find_element(By.ID, "zone-status").text)
    shot(browser, "04-zone-change-recorded")

    def published(b: WebDriver) -> bool:
        rows = css(b, "#versions-table tbody tr")
        return len(rows) > len(before) and bool(css(b, "#diff-table tbody tr"))

    wait(browser, published, RESOLVE_WAIT_S)
    versions = server.get(f"/scenarios/{server.scenario_id}/versions")
    newest = versions[0]
    assert (
        newest["id"] != before[0]["id"] and newest["status"] == "published" and newest["parent_id"] == before[0]["id"]
    )
    listed = [r.get_attribute("data-version-id") for r in css(browser, "#versions-table tbody tr")]
    assert listed == [str(v["id"]) for v in versions]
    diff = server.get(f"/scenarios/{server.scenario_id}/versions/{newest['id']}/diff", params={"limit": 200})
    shown = [r.find_elements(By.TAG_NAME, "td")[0].text for r in css(browser, "#diff-table tbody tr")]
    assert browser.find_element(By.ID, "diff-table").get_attribute("data-version-id") == str(newest["id"])
    assert shown == [c["resident_id"] for c in diff["changes"]] and shown
    assert str(newest["id"]) in browser.find_element(By.ID, "zone-status").text
    level = browser.find_element(By.CSS_SELECTOR, f'circle[data-building-id="{building}"]').get_attribute("data-level")
    assert level == "sealed" and (building, "sealed") in _sealed(server)
    shot(browser, "05-new-version-and-diff")


def _sealed(server: Server) -> set[tuple[str, str]]:
    """(building, level) of the sealed buildings, as the API's map says."""
    buildings = server.get(f"/scenarios/{server.scenario_id}/map")["buildings"]
    return {(b["building_id"], b["level"]) for b in buildings if b["level"] == "sealed"}


def _point_people(demo: Solved, count: int) -> list[dict[str, str]]:
    """Demo residents with a phone, served at a point in the published schedule, outside K01 (which the zone
    change test seals)."""
    row = {rid: i for i, rid in enumerate(demo.scenario.residents.ids)}
    chosen = [
        p
        for rid, p in PEOPLE.items()
        if demo.schedule.mode[row[rid]] == POINT and not p["building_id"].startswith("C0001-K01-")
    ]
    return chosen[:count]


def look_up(browser: WebDriver, resident_id: str, last4: str) -> str:
    """Fill the resident page's form, submit, and return the answer's text once it changed."""
    browser.execute_script("document.getElementById('answer').replaceChildren()")
    for field, value in (("resident-id", resident_id), ("phone-last4", last4)):
        element = browser.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    browser.find_element(By.ID, "lookup-submit").click()
    return str(wait(browser, lambda b: b.find_element(By.ID, "answer").text))


def test_resident_page_answers_a_lookup_with_the_apis_answers(
    browser: WebDriver,
    server: Server,
    solved: dict[str, Solved],  # noqa: F811
) -> None:
    """On a phone-sized page a resident gets the API's answer for their own visit in Chinese and in English,
    the API's single answer for a wrong detail, and its rate-limit message with the button held back."""
    browser.set_window_size(390, 900)
    browser.get(server.url + "/resident")
    browser.execute_script("localStorage.clear()")
    browser.get(server.url + "/resident")
    first, second, third = _point_people(solved["demo"], 3)

    text = look_up(browser, first["resident_id"], first["phone"][-4:])
    api = server.lookup({"resident_id": first["resident_id"], "phone_last4": first["phone"][-4:]}, "zh").json()
    assert api["mode"] == "point" and api["message"] in text and api["point"]["name"] in text
    assert all(item in text for item in api["bring"])
    shot(browser, "06-resident-zh")

    browser.find_element(By.CSS_SELECTOR, 'button[data-lang="en"]').click()
    text = look_up(browser, second["resident_id"], second["phone"][-4:])
    api = server.lookup({"resident_id": second["resident_id"], "phone_last4": second["phone"][-4:]}, "en").json()
    assert api["message"].startswith("Please come to") and api["message"] in text
    shot(browser, "07-resident-en")

    wrong = str((int(third["phone"][-4:]) + 1) % 10_000).zfill(4)
    text = look_up(browser, third["resident_id"], wrong)
    nobody = server.lookup({"resident_id": "R99999999", "phone_last4": "0000"}, "en")
    assert nobody.status_code == 404 and text == nobody.json()["detail"]
    shot(browser, "08-resident-not-found")

    for _ in range(PERSON_LIMIT - 1):  # the person's remaining tries (one was spent above)
        look_up(browser, third["resident_id"], wrong)
    text = look_up(browser, third["resident_id"], wrong)
    assert "Too many look-ups" in text and "try again in" in text
    assert not browser.find_element(By.ID, "lookup-submit").is_enabled()
    shot(browser, "09-resident-rate-limited")
    browser.set_window_size(1400, 1800)


def test_planner_compares_a_what_if_with_its_parent(browser: WebDriver, server: Server) -> None:
    """A planner forks the demo with P00001 closed and solves it (API); the dashboard's comparison picks the fork
    and its parent, and shows the KPI table, P00001 closed and its residents moved, as the API's comparison says."""
    headers = {"Authorization": f"Bearer {server.planner}"}
    body = {"name": "P00001 关闭", "changes": [{"kind": "close_point", "point_id": "P00001"}]}
    forked = httpx.post(f"{server.url}{API}/planner/scenarios/{server.scenario_id}/forks", json=body, headers=headers)
    assert forked.status_code == 201, forked.text
    child = forked.json()["id"]
    job = httpx.post(f"{server.url}{API}/planner/scenarios/{child}/solve", headers=headers).json()
    deadline = time.monotonic() + RESOLVE_WAIT_S
    while (status := httpx.get(server.url + job["href"], headers=headers).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["status"] == "done", status
    params = {"a": server.scenario_id, "b": child}
    expected = httpx.get(f"{server.url}{API}/planner/compare", params=params, headers=headers).json()

    sign_in(browser, dataclasses.replace(server, token=server.planner))
    wait(browser, lambda b: b.find_element(By.ID, "whatif-card").is_displayed() and css(b, "#compare-b option"))
    assert Select(browser.find_element(By.ID, "compare-a")).first_selected_option.get_attribute("value") == str(
        server.scenario_id
    )
    assert Select(browser.find_element(By.ID, "compare-b")).first_selected_option.get_attribute("value") == str(child)
    browser.find_element(By.ID, "compare-submit").click()
    wait(browser, lambda b: css(b, "#compare-table tbody tr") and css(b, "#compare-points-table tbody tr"))
    assert [r.get_attribute("data-kpi") for r in css(browser, "#compare-table tbody tr")] == [
        k["key"] for k in expected["kpis"]
    ]
    closed = browser.find_element(By.CSS_SELECTOR, '#compare-points-table tr[data-point="P00001"]')
    cells = [c.text for c in closed.find_elements(By.TAG_NAME, "td")]
    assert cells[1:3] == ["开放", "关闭"] and cells[3] == str(expected["points"][0]["a_residents"])
    assert f"其中 {expected['residents_moved']} 位换了地点" in browser.find_element(By.ID, "compare-residents").text
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "whatif-card"))
    shot(browser, "07-whatif-comparison")
    browser.find_element(By.CSS_SELECTOR, 'button[data-lang="en"]').click()
    assert "different place" in browser.find_element(By.ID, "compare-residents").text
    assert css(browser, '#compare-table tr[data-kpi="walk_m_total"] td')[0].text == "walking, total (m)"
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "whatif-card"))
    shot(browser, "08-whatif-comparison-en")
