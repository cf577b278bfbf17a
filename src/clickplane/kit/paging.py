"""Cursor paging of a list, as clickhousectl pages: `?cursor=C&limit=N`, answered with top-level `nextCursor`,
`limit` and `totalCount` beside the result array."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from clickplane.kit.envelope import Page
from clickplane.kit.errors import BadRequest

T = TypeVar("T")
# The largest page clickhousectl asks for (it refuses a limit outside 1..100).
MAX_PAGE = 100


def page_of(items: Sequence[T], limit: int | None, cursor: str | None, id_of: Callable[[T], str], what: str
            ) -> tuple[Sequence[T], Page | None]:
    """The items of one page: those after the item the cursor names, at most `limit`; and the paging fields when
    the client asked for a page. `what` names the items in the error for a cursor naming none of them."""
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
    start = 0
    if cursor is not None:
        start = next((index + 1 for index, item in enumerate(items) if id_of(item) == cursor), -1)
        if start < 0:
            raise BadRequest(f"cursor does not name {what}; start again without a cursor")
    page = items[start:start + limit] if limit else items[start:]
    more = limit is not None and start + limit < len(items)
    paging = Page(limit, len(items), id_of(page[-1]) if more else None) if limit or cursor else None
    return page, paging
