"""Pages of a list computed in full (rosters, plan progress)."""
from __future__ import annotations

import pytest

from school.paging import page_of


@pytest.mark.parametrize("size, number, expected", [
    (0, 1, ([], 1, 1, 0)), (5, 1, ([0, 1], 1, 3, 1)), (5, 3, ([4], 3, 3, 5)), (5, 9, ([4], 3, 3, 5)),
    (5, 0, ([0, 1], 1, 3, 1)), (4, 2, ([2, 3], 2, 2, 3)),
])
def test_pages(size, number, expected):
    page = page_of(list(range(size)), number, size=2)
    assert (page.rows, page.number, page.pages, page.first) == expected
