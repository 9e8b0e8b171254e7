"""One page of a list computed in full (a roster, a plan's progress): the whole list is needed
for its summary, only a page of it is rendered — a county's 100,000 rows are 20 MiB of HTML."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Sequence, TypeVar

T = TypeVar("T")
PAGE_SIZE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    number: int  # 1-based, within 1..pages
    pages: int
    first: int  # the 1-based position of its first row in the whole list (0 when empty)


def page_of(found: Sequence[T], number: int, size: int | None = None) -> Page[T]:
    """Page ``number`` of ``found`` (a number past the end gives the last page)."""
    size = size or PAGE_SIZE
    pages = max(1, -(-len(found) // size))
    number = min(max(1, number), pages)
    start = (number - 1) * size
    return Page(list(found[start:start + size]), number, pages, start + 1 if found else 0)
