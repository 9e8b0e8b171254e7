"""The words of a WebVTT subtitle file, kept in the database for search (``Lesson.subtitles_text``).

Read once when the file is uploaded, not from disk on every search: ``/search`` matches them with
SQL ``LIKE`` beside the lesson's title and body, however many video lessons there are."""
from __future__ import annotations

import re

MAX_CHARS = 200_000  # a two-hour lecture's cues are ~30,000 characters; more is not a subtitle file


def words_of(vtt: str) -> str:
    """The cue text of ``vtt``: no header, notes, cue numbers or timings, no tags; one line, simplified."""
    from school.library.queries import simplified  # the library's conversion, as the query gets it

    lines = (line.strip() for line in vtt.splitlines())
    words = [re.sub(r"<[^>]+>", "", line) for line in lines
             if line and "-->" not in line and not line.isdigit() and not line.startswith(("WEBVTT", "NOTE"))]
    return simplified(" ".join(words))[:MAX_CHARS]
