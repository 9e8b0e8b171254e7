"""A page's tab id, as the reading page and the video player make it (a UUID, or digits and hex).

It is stored with the study lease and every interval, so anything else (10,000 characters, a
path) is refused, not cut. Kept apart from ``credits.clock`` so the heartbeat rules
(``courses.progress``) can hold the same rule without importing the models."""
from __future__ import annotations

import re

TAB_ID = re.compile(r"[\w-]{1,40}")
TAB_ID_ERROR = "页面标识不正确，请刷新页面后重试。"


def tab_id(value) -> str | None:
    """``value`` if it is a well-formed tab id (``TAB_ID``), else None."""
    return value if isinstance(value, str) and TAB_ID.fullmatch(value) else None
