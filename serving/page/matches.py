"""The page's possible-matches panel: pairs of records a person confirms or rejects.

Served at ``/page/possible-matches`` with the same sign-in, roles and
same-origin checks as the rest of the page (:mod:`serving.page.router`), and
written through the same :func:`serving.matches.review` as the JSON API, so
the page can accept nothing the API would refuse.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

import records
from records import roles
from records.rules import RuleViolation
from serving.matches import MatchReviewIn, latest_by_pair, list_matches, review, source_of
from serving.page.forms import first
from serving.page.router import PAGE_PREFIX, _form, _render, _user

PATH = f"{PAGE_PREFIX}/possible-matches"
# What the page says after a verdict (a fixed text: nothing from the query string is shown).
DONE = {
    "same_person": "Recorded: the same person. The next linkage run will link the two records.",
    "different_people": "Recorded: different people. The next linkage run will keep them apart.",
}


def make_matches_page_router() -> APIRouter:
    """``GET``/``POST`` ``/page/possible-matches``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/page/possible-matches")
    def matches_page(request: Request, done: str | None = None) -> Response:
        user = _user(request)
        if isinstance(user, Response):
            return user
        said = DONE.get(done or "")
        return _panel(request, user, messages=[said] if said else [])

    @router.post("/page/possible-matches")
    async def matches_review(request: Request) -> Response:
        user = _user(request)
        if isinstance(user, Response):
            return user
        form = await _form(request)
        # The store reads and the trail write block: off the event loop.
        return await run_in_threadpool(_verdict_from_form, request, user, form)

    return router


def _verdict_from_form(request: Request, user, form: dict) -> Response:
    """Record the form's verdict through the API's own checks; the panel again on a refusal."""
    if not records.allowed(user.role, roles.REVIEW_POSSIBLE_MATCH):
        return _panel(request, user, 403, errors=["Your role may not judge possible matches."])
    try:
        body = MatchReviewIn(
            review_id=f"page-{uuid.uuid4().hex}",
            record_l=first(form, "record_l"),
            record_r=first(form, "record_r"),
            verdict=first(form, "verdict"),
            reason=first(form, "reason"),
        )
        review(source_of(request), records.get_store(request), user, body)
    except ValidationError as err:
        return _panel(request, user, 422, errors=_form_problems(err))
    except RuleViolation as err:
        message = err.message[:1].upper() + err.message[1:] + "."
        return _panel(request, user, err.status, errors=[message])
    return RedirectResponse(f"{PATH}?done={body.verdict}", status_code=303)


def _form_problems(err: ValidationError) -> list[str]:
    """What to put right on the form, in words."""
    problems = {str(e["loc"][0]) for e in err.errors()}
    words = []
    if "reason" in problems:
        words.append("Say why, in a few words: your verdict is recorded with your reason.")
    if "verdict" in problems:
        words.append("Choose 'the same person' or 'different people'.")
    if problems - {"reason", "verdict"}:
        words.append("The pair of records was not recognised; reload the page.")
    return words


def _panel(request: Request, user, status: int = 200, errors=(), messages=()) -> Response:
    store = records.get_store(request)
    matches = list_matches(source_of(request), latest_by_pair(store))
    return _render(
        "possible_matches.html.j2",
        status,
        user=user,
        matches=matches,
        errors=list(errors),
        messages=list(messages),
        action=PATH,
    )
