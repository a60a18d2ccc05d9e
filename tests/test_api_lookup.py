"""Residents' own look-up: the answer, its languages, the same answer for a wrong factor as for nobody,
and the rate limits (in-process, and in Redis shared by several API processes)."""

from __future__ import annotations

import asyncio
import csv
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import redis.asyncio
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.batching import Coalescer
from api.lookup import EngineLookups, LookupByIdNumber, LookupByResidentId, LookupRequest, PostgresLookups, language
from api.main import create_app
from api.ratelimit import MemoryRateLimiter, RedisRateLimiter, Rule
from scheduler.schedule import DOORSTEP, POINT
from store.engine import make_engine
from tests.test_api import DEMO, Solved, api_settings, assert_problem, solved, store_published  # noqa: F401

LOOKUP = "/api/v1/residents/lookup"


def ledger_people() -> dict[str, dict[str, str]]:
    """The demo's residents that have an id number and a phone, by resident id."""
    with (DEMO / "residents.csv").open(encoding="utf-8") as f:
        return {row["resident_id"]: row for row in csv.DictReader(f) if row["id_number"] and row["phone"]}


PEOPLE = ledger_people()


@pytest.fixture
def published(db_engine: Engine, solved: dict[str, Solved], salt: bytes) -> tuple[Engine, Solved]:  # noqa: F811
    """The demo community with a published version."""
    store_published(db_engine, solved["demo"], salt)
    return db_engine, solved["demo"]


def client_for(engine: Engine, salt: bytes, address: str = "203.0.113.7", **limits: Any) -> TestClient:
    app = create_app(api_settings(salt, **limits), engine=engine, embedded_worker=False)
    return TestClient(app, client=(address, 50000))


@pytest.fixture
def client(published: tuple[Engine, Solved], salt: bytes) -> Iterator[TestClient]:
    with client_for(published[0], salt) as test_client:
        yield test_client


def person(demo: Solved, mode: int) -> dict[str, str]:
    """A demo resident with id number and phone whose visit has this mode."""
    rows = {rid: i for i, rid in enumerate(demo.scenario.residents.ids)}
    return next(p for rid, p in PEOPLE.items() if demo.schedule.mode[rows[rid]] == mode)


def visit_of(demo: Solved, resident_id: str) -> tuple[str, str]:
    """The visit's start and end as the API writes them."""
    r = demo.scenario.residents.ids.index(resident_id)
    at = demo.scenario.settings.at
    return at(demo.schedule.start[r] // 60).isoformat(), at(demo.schedule.end[r] // 60).isoformat()


def test_point_visit_by_id_number_and_phone(client: TestClient, published: tuple[Engine, Solved]) -> None:
    """Id number + phone answer the point's name and place, the slot, and what to bring, in Chinese by default."""
    demo = published[1]
    who = person(demo, POINT)
    response = client.post(LOOKUP, json={"id_number": who["id_number"], "phone": who["phone"]})
    assert response.status_code == 200, response.text
    body = response.json()
    r = demo.scenario.residents.ids.index(who["resident_id"])
    p = int(demo.schedule.point[r])
    assert body["mode"] == "point"
    assert body["point"] == {
        "name": demo.scenario.points.names[p],
        "lat": float(demo.scenario.points.lat[p]),
        "lon": float(demo.scenario.points.lon[p]),
    }
    assert (body["start"], body["end"]) == visit_of(demo, who["resident_id"])
    assert (
        body["language"] == "zh" and "身份证" in body["bring"][0] and demo.scenario.points.names[p] in body["message"]
    )
    assert response.headers["content-language"] == "zh"
    # nothing about the person: no ids, no household, no team
    assert set(body) == {"mode", "point", "start", "end", "message", "bring", "language"}
    assert who["resident_id"] not in response.text and who["phone"] not in response.text


def test_resident_id_and_phone_tail_give_the_same_visit(client: TestClient, published: tuple[Engine, Solved]) -> None:
    """Resident id + the phone's last four digits find the same visit as id number + phone; blanks are ignored."""
    who = person(published[1], POINT)
    by_id = client.post(LOOKUP, json={"id_number": who["id_number"].lower(), "phone": who["phone"]}).json()
    by_tail = client.post(LOOKUP, json={"resident_id": who["resident_id"], "phone_last4": who["phone"][-4:]}).json()
    spaced = client.post(
        LOOKUP, json={"id_number": who["id_number"], "phone": f"+86 {who['phone'][:3]} {who['phone'][3:]}"}
    )
    assert by_id == by_tail == spaced.json()


def test_doorstep_visit_says_stay_home(client: TestClient, published: tuple[Engine, Solved]) -> None:
    """A household sampled at the door hears to stay home in its window, with no point."""
    demo = published[1]
    who = person(demo, DOORSTEP)
    body = client.post(LOOKUP, json={"resident_id": who["resident_id"], "phone_last4": who["phone"][-4:]}).json()
    assert body["mode"] == "doorstep" and body["point"] is None
    assert (body["start"], body["end"]) == visit_of(demo, who["resident_id"])
    assert "上门" in body["message"]


def test_english_after_accept_language(client: TestClient, published: tuple[Engine, Solved]) -> None:
    """Accept-Language picks English over Chinese by q-value; the 404 follows it too."""
    who = person(published[1], POINT)
    headers = {"Accept-Language": "zh-CN;q=0.4, en-GB;q=0.9"}
    body = client.post(LOOKUP, json={"id_number": who["id_number"], "phone": who["phone"]}, headers=headers).json()
    assert body["language"] == "en" and body["message"].startswith("Please come to")
    assert body["bring"][0] == "Your ID card or another identity document"
    missing = client.post(LOOKUP, json={"resident_id": "R404", "phone_last4": "0000"}, headers=headers)
    assert assert_problem(missing, 404)["detail"].startswith("No visit matches")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "zh"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("fr, de", "zh"),
        ("zh-TW, en;q=0.5", "zh"),
        ("en;q=0", "zh"),
        ("en;q=abc, zh;q=0.1", "zh"),
        ("*", "zh"),
    ],
)
def test_language_choice(header: str | None, expected: str) -> None:
    """The language is the best-rated of zh and en, Chinese when neither is asked for."""
    assert language(header) == expected


def test_wrong_factor_and_unknown_person_get_the_same_answer(
    client: TestClient, published: tuple[Engine, Solved]
) -> None:
    """A wrong phone, a wrong id number, a wrong tail and an unknown person get byte-identical 404s."""
    who = person(published[1], POINT)
    attempts = [
        {"id_number": who["id_number"], "phone": "13900000000"},
        {"id_number": "110101199003077777", "phone": who["phone"]},
        {"id_number": "110101199003077777", "phone": "13900000000"},
        {"resident_id": who["resident_id"], "phone_last4": "0000" if who["phone"][-4:] != "0000" else "1111"},
        {"resident_id": "R99999999", "phone_last4": who["phone"][-4:]},
    ]
    responses = [client.post(LOOKUP, json=attempt) for attempt in attempts]
    assert {r.status_code for r in responses} == {404}
    assert len({r.content for r in responses}) == 1
    assert len({tuple(sorted(r.headers.items())) for r in responses if "content-length" in r.headers}) == 1


def test_wrong_factor_and_unknown_person_take_similar_time(published: tuple[Engine, Solved], salt: bytes) -> None:
    """The median time of a wrong-factor look-up is within a small margin of an unknown person's."""
    who = person(published[1], POINT)
    wrong = {"id_number": who["id_number"], "phone": "13900000000"}
    unknown = {"id_number": "110101199003077777", "phone": "13900000000"}
    with client_for(published[0], salt) as test_client:
        for _ in range(20):  # warm the connection pool and the query cache
            test_client.post(LOOKUP, json=wrong)
        times: dict[str, list[float]] = {"wrong": [], "unknown": []}
        for _ in range(150):
            for name, body in (("wrong", wrong), ("unknown", unknown)):
                began = time.perf_counter()
                assert test_client.post(LOOKUP, json=body).status_code == 404
                times[name].append(time.perf_counter() - began)
    wrong_median, unknown_median = statistics.median(times["wrong"]), statistics.median(times["unknown"])
    assert abs(wrong_median - unknown_median) < 0.25 * unknown_median + 0.0005, (wrong_median, unknown_median)


def test_unscheduled_before_publication(db_engine: Engine, solved: dict[str, Solved], salt: bytes) -> None:  # noqa: F811
    """Before a version is published the person hears 'not scheduled yet'; an unknown one still the same 404."""
    store_published(db_engine, solved["demo"], salt, publish_it=False)
    who = next(iter(PEOPLE.values()))
    with client_for(db_engine, salt) as test_client:
        body = test_client.post(LOOKUP, json={"id_number": who["id_number"], "phone": who["phone"]}).json()
        assert body["mode"] == "unscheduled" and body["start"] is None and body["bring"] == []
        assert_problem(test_client.post(LOOKUP, json={"id_number": who["id_number"], "phone": "13900000000"}), 404)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id_number": "410102196105232759"},
        {"id_number": "4101", "phone": "18213666312"},
        {"resident_id": "R1", "phone_last4": "12345"},
        {"resident_id": "R1", "phone_last4": "12a4"},
        {"resident_id": "R1\u0000", "phone_last4": "1234"},
        {"id_number": "410102196105232759", "phone": "18213666312", "resident_id": "R1"},
        {"id_number": "x" * 5000, "phone": "1"},
    ],
)
def test_malformed_look_ups_are_422(client: TestClient, body: dict[str, str]) -> None:
    """Missing, mixed, oversized or malformed factors answer 422 problems naming the fields."""
    assert assert_problem(client.post(LOOKUP, json=body), 422)["invalid_params"]


def test_rate_limit_per_client(published: tuple[Engine, Solved], salt: bytes) -> None:
    """One client address past its limit gets 429 with Retry-After; another address is not affected."""
    engine = published[0]
    attempt = {"resident_id": "R00000001", "phone_last4": "0000"}
    with client_for(engine, salt, "198.51.100.1", lookup_client_limit=3) as first:
        codes = [first.post(LOOKUP, json={**attempt, "resident_id": f"R{i}"}).status_code for i in range(4)]
        assert codes == [404, 404, 404, 429]
        limited = first.post(LOOKUP, json=attempt)
        body = assert_problem(limited, 429)
        assert body["type"] == "urn:sched:problem:rate-limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        with TestClient(first.app, client=("198.51.100.2", 50000)) as other:  # same app, same limiter
            assert other.post(LOOKUP, json=attempt).status_code == 404


def test_rate_limit_per_person(published: tuple[Engine, Solved], salt: bytes) -> None:
    """Guesses at one person from many addresses stop at the per-person limit; other people are still answered."""
    engine, demo = published
    who = person(demo, POINT)
    app = create_app(api_settings(salt, lookup_person_limit=3), engine=engine, embedded_worker=False)
    with ExitStack() as stack:
        clients = [stack.enter_context(TestClient(app, client=(f"192.0.2.{i}", 1))) for i in range(6)]
        codes = []
        for i in range(5):
            guess = {"id_number": who["id_number"], "phone": f"1390000000{i}"}
            codes.append(clients[i].post(LOOKUP, json=guess).status_code)
        assert codes == [404, 404, 404, 429, 429]
        # even the right phone is held back now: the limit is about the person, not the answer
        right = {"id_number": who["id_number"], "phone": who["phone"]}
        assert clients[5].post(LOOKUP, json=right).status_code == 429
        other = person(demo, DOORSTEP)
        other_body = {"id_number": other["id_number"], "phone": other["phone"]}
        assert clients[5].post(LOOKUP, json=other_body).status_code == 200


def test_memory_limiter_windows_end() -> None:
    """A key over its limit is let through again when its window ends; old windows are forgotten."""
    now = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    rule = Rule("k", 2, 10)
    assert [limiter.count([rule]) for _ in range(3)] == [None, None, 10]
    now[0] = 1009.5
    assert limiter.count([rule]) == 1
    now[0] = 1010.0
    assert limiter.count([rule]) is None
    now[0] = 5000.0
    limiter.count([Rule("other", 1, 10)])
    assert len(limiter._counts) == 1


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("TEST_REDIS_URL is not set: CI must test Redis too")
        pytest.skip("TEST_REDIS_URL is not set")
    return url


def test_redis_limiter_is_shared_by_api_processes(redis_url: str) -> None:
    """Two limiters on one Redis (two API processes) count together; keys expire with their window."""
    prefix = f"test:{uuid.uuid4().hex}:"

    async def hits() -> list[int | None]:
        first = RedisRateLimiter(redis.asyncio.Redis.from_url(redis_url), prefix=prefix)
        second = RedisRateLimiter(redis.asyncio.Redis.from_url(redis_url), prefix=prefix)
        rules = [Rule("client:a", 3, 60), Rule("person:p", 100, 600)]
        found = [await first.hit(rules), await second.hit(rules), await first.hit(rules), await second.hit(rules)]
        found.append(await first.hit([Rule("client:b", 3, 60)]))
        await first.close()
        await second.close()
        return found

    *allowed, wait, other = asyncio.run(hits())
    assert allowed == [None, None, None] and other is None
    assert wait is not None and 1 <= wait <= 60
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}*"))
    assert len(keys) == 3 and all(0 < client.ttl(k) <= 601 for k in keys)
    client.delete(*keys)


def test_api_uses_redis_limits_when_redis_url_is_set(
    published: tuple[Engine, Solved], salt: bytes, redis_url: str
) -> None:
    """Two apps with REDIS_URL share the per-person count: the second app refuses the guess the first let pass."""
    engine = published[0]
    settings = api_settings(salt, redis_url=redis_url, lookup_person_limit=2)
    guess = {"resident_id": f"R-{uuid.uuid4().hex[:12]}", "phone_last4": "0000"}  # a person no earlier run counted
    with ExitStack() as stack:
        clients = [
            stack.enter_context(TestClient(create_app(settings, engine=engine, embedded_worker=False)))
            for _ in range(2)
        ]
        codes = [clients[i % 2].post(LOOKUP, json=guess).status_code for i in range(3)]
    assert codes == [404, 404, 429]


def test_redis_limiter_counts_concurrent_attempts_exactly(redis_url: str) -> None:
    """Attempts sent together (one batched script call) are each counted: 30 at once past a limit of 5 → 5 pass."""
    prefix = f"test:{uuid.uuid4().hex}:"

    async def hits() -> list[int | None]:
        limiter = RedisRateLimiter(redis.asyncio.Redis.from_url(redis_url), prefix=prefix)
        found = await asyncio.gather(
            *[limiter.hit([Rule("person:p", 5, 600), Rule(f"client:{i}", 9, 60)]) for i in range(30)]
        )
        await limiter.close()
        return list(found)

    found = asyncio.run(hits())
    assert sum(wait is None for wait in found) == 5
    assert all(1 <= wait <= 600 for wait in found if wait is not None)
    client = redis.Redis.from_url(redis_url)
    assert client.get(next(client.scan_iter(f"{prefix}600:*"))) == b"30"
    client.delete(*client.scan_iter(f"{prefix}*"))


def test_batched_postgres_look_ups_answer_each_person(published: tuple[Engine, Solved], salt: bytes) -> None:
    """On PostgreSQL, look-ups sent together in one statement each get the one-person query's answer."""
    engine = published[0]
    if engine.dialect.name != "postgresql":
        pytest.skip("the batched look-up is PostgreSQL's")
    asked: list[LookupRequest] = []
    for i, who in enumerate(list(PEOPLE.values())[:60]):
        asked.append(LookupByIdNumber(id_number=who["id_number"], phone=who["phone"] if i % 3 else "13900000000"))
        rid = who["resident_id"] if i % 4 else f"R-nobody-{i}"
        asked.append(LookupByResidentId(resident_id=rid, phone_last4=who["phone"][-4:]))

    async def together() -> list[Any]:
        lookups = PostgresLookups(engine.url)
        await lookups.open()
        try:
            return list(await asyncio.gather(*[lookups.find(request, salt) for request in asked]))
        finally:
            await lookups.close()

    found = asyncio.run(together())
    one_by_one = EngineLookups(engine)
    assert found == [one_by_one.find_now(request, salt) for request in asked]
    assert 0 < sum(f is not None for f in found) < len(asked)


def test_coalescer_sends_waiting_calls_together_and_errors_to_their_batch() -> None:
    """Calls made together go in one batch, calls made while it is away in the next; a failure fails its batch only."""
    batches: list[list[int]] = []

    async def send(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        if 13 in items:
            raise ValueError("unlucky")
        return [item * 2 for item in items]

    async def calls() -> list[Any]:
        coalescer: Coalescer[int, int] = Coalescer(send)
        first = await asyncio.gather(*[coalescer.submit(i) for i in range(5)])

        async def while_away(item: int) -> int:
            await asyncio.sleep(0.002)
            return await coalescer.submit(item)

        second = await asyncio.gather(
            coalescer.submit(11), coalescer.submit(12), while_away(13), while_away(14), return_exceptions=True
        )
        return [list(first), list(second), await coalescer.submit(7)]

    first, second, alone = asyncio.run(calls())
    assert first == [0, 2, 4, 6, 8] and alone == 14
    assert second[:2] == [22, 24] and all(isinstance(error, ValueError) for error in second[2:])
    assert batches == [[0, 1, 2, 3, 4], [11, 12], [13, 14], [7]]


def test_api_starts_without_its_database_and_look_ups_answer_503(salt: bytes) -> None:
    """With PostgreSQL away the API still starts; a look-up is a 503 problem to retry, not a 500."""
    engine = make_engine("postgresql://postgres@127.0.0.1:1/nowhere")  # nothing listens on port 1
    with TestClient(create_app(api_settings(salt), engine=engine, embedded_worker=False)) as client:
        assert client.get("/api/v1/health").status_code in (200, 503)
        response = client.post(LOOKUP, json={"resident_id": "R1", "phone_last4": "1234"})
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"


def test_coalescer_cancelled_mid_batch_leaves_no_caller_waiting() -> None:
    """When the drain is cancelled (shutdown) while a batch is away, its callers and later ones are cancelled too."""
    started = asyncio.Event()

    async def send(items: list[int]) -> list[int]:
        started.set()
        await asyncio.sleep(60)
        return items

    async def calls() -> list[Any]:
        coalescer: Coalescer[int, int] = Coalescer(send)
        first = asyncio.ensure_future(coalescer.submit(1))
        await started.wait()
        later = asyncio.ensure_future(coalescer.submit(2))
        await asyncio.sleep(0)
        assert coalescer._sender is not None
        coalescer._sender.cancel()
        return list(await asyncio.wait_for(asyncio.gather(first, later, return_exceptions=True), 5))

    outcomes = asyncio.run(calls())
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
