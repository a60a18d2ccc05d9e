"""Residents look up their own visit: no token, rate-limited, the same answer for a wrong factor as for nobody.

The one async route: it waits for Redis and the database without holding a thread (the look-up is the hot path).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from api.lookup import LookupRequest, Lookups, VisitAnswer, answer, language, person_key
from api.problems import ProblemError, problems
from api.ratelimit import RateLimiter, Rule

router = APIRouter(prefix="/residents", tags=["residents"])
NOT_FOUND = {
    "zh": "没有找到与这些信息相符的采样安排，请核对后重试，或联系所在社区。",
    "en": "No visit matches these details. Check them and try again, or ask your community.",
}


@router.post(
    "/lookup",
    response_model=VisitAnswer,
    summary="A resident's own sampling point and time (by id number + phone, or resident id + last four digits)",
    description="Answers in Chinese or English after `Accept-Language` (Chinese by default). An unknown person and "
    "a wrong factor get the same 404. Limited per client address and per person: past the limit, 429 with "
    "`Retry-After`.",
    responses=problems(400, 404, 422, 429),
)
async def lookup(
    request: Request,
    body: LookupRequest,
    accept_language: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    settings = request.app.state.settings
    limiter: RateLimiter = request.state.limiter  # both set per event loop by the app's lifespan
    lookups: Lookups = request.state.lookups
    lang = language(accept_language)
    client = request.client.host if request.client else "unknown"
    wait = await limiter.hit(
        [
            Rule(f"client:{client}", settings.lookup_client_limit, settings.lookup_client_window_s),
            Rule(
                f"person:{person_key(body, settings.salt)}",
                settings.lookup_person_limit,
                settings.lookup_person_window_s,
            ),
        ]
    )
    if wait is not None:
        raise ProblemError(
            429,
            {"zh": f"查询过于频繁，请 {wait} 秒后再试。", "en": f"Too many look-ups; try again in {wait} s."}[lang],
            kind="rate-limited",
            headers={"Retry-After": str(wait), "Content-Language": lang},
        )
    found = await lookups.find(body, settings.salt)
    headers = {"Content-Language": lang, "Vary": "Accept-Language"}
    if found is None:
        raise ProblemError(404, NOT_FOUND[lang], kind="no-visit", headers=headers)
    # Serialised here, once: the model is built by `answer`, so FastAPI need not validate it again.
    return Response(answer(*found, lang).model_dump_json(), media_type="application/json", headers=headers)
