"""Where other parts of MAST add sections to the referral page without editing its router.

A section is a template (under ``serving/page/templates/``) and, if it
needs data, a function that returns the names it reads.  The referral page
includes each template in :data:`REFERRAL_SECTIONS` below its decision form
(the strategy-discussion record, the referrer told, partners' contributions
and escalations), in order, with the page's own context plus what its
function returned.  A function raising an exception breaks the page, as it
should: a section that cannot be shown must not be silently missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Section:
    """A template included on the referral page, and the function giving its data.

    ``context(request, user, referral, history)`` returns a dict of names
    for the template (``history`` is the referral's decisions and overrides).
    """

    template: str
    context: Callable[..., dict[str, Any]] | None = None


REFERRAL_SECTIONS: list[Section] = []


def section_context(request, user, referral, history) -> tuple[list[str], dict[str, Any]]:
    """The templates to include and the names they read, from every registered section."""
    names: dict[str, Any] = {}
    for section in REFERRAL_SECTIONS:
        if section.context is not None:
            names.update(section.context(request, user, referral, history))
    return [s.template for s in REFERRAL_SECTIONS], names
