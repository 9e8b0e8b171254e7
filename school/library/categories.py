"""The library's fixed categories: stored as short English codes, shown in Chinese."""
from __future__ import annotations

CATEGORIES = {
    "classic": "经典著作",
    "policy": "政策文件",
    "law": "法律法规",
    "press": "党报党刊",
    "theory": "理论研究",
    "knowledge": "党建知识",
    "campaign": "主题教育专栏",
    "tech": "科技致富",
}


def resolve_category(value: str | None) -> str | None:
    """Accept a code (``law``) or its Chinese label (``法律法规``); ``None`` when unknown."""
    if not value:
        return None
    value = value.strip()
    if value in CATEGORIES:
        return value
    for code, label in CATEGORIES.items():
        if label == value:
            return code
    return None


def category_label(code: str) -> str:
    return CATEGORIES.get(code, code)
