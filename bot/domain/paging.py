"""Pages of a listing: how many there are and which one to show."""

from __future__ import annotations


def page_within(page: int, total: int, page_size: int) -> tuple[int, int]:
    """(the page to show, how many pages there are) for `total` items shown `page_size` at a
    time: there is always at least one page, and a page past the end shows the last one (one
    before the start, the first)."""
    pages = max(1, -(-total // page_size))
    return min(max(page, 0), pages - 1), pages
