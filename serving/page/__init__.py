"""The screener's page: server-rendered HTML over the scoring engine and the decision record.

``make_page_router()`` returns an ``APIRouter`` mounted at ``/page`` by
:func:`serving.create_app`.  It reads three things from ``app.state``: the
scoring ``engine`` (:class:`serving.ScoringEngine`), the ``records`` store
and the ``guard`` (:class:`serving.access.Guard`, which logs views and
answers "was this referral flagged?").  No JavaScript, no external assets.
"""

from serving.page.router import PAGE_PREFIX, make_page_router

__all__ = ["PAGE_PREFIX", "make_page_router"]
