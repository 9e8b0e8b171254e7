"""What kind of document a library document is (法律, 行政法规 …), where it applies, and
what its title says: the law it names, the part of a law it is, the articles it holds.

The level is decided at import from the corpus folder the file sits in (``laws/行政法规/…``,
``local/…/地方性法规/广东/…``) and, for documents uploaded or typed in by editors, from the
title and issuing body. Search ranks a question about a matter by level (法律 above
行政法规 above 部门规章 and 地方性法规 above 司法解释) and shows it beside every result.
"""
from __future__ import annotations

import re

LAW = "law"
LEVELS = {
    "constitution": "宪法",
    LAW: "法律",
    "regulation": "行政法规",
    "rule": "部门规章",
    "local": "地方性法规",
    "interpretation": "司法解释",
    "case": "案例",
    "other": "其他文献",
}
# How much the level of a document adds to its rank for a question about a matter.
LEVEL_PRIOR = {"constitution": 1.0, LAW: 1.0, "regulation": 0.7, "rule": 0.4, "local": 0.4,
               "interpretation": 0.2, "case": 0.0, "other": 0.0, "": 0.0}

LAW_FOLDERS = {"宪法相关法", "民法典", "民法商法", "社会法", "经济法", "行政法", "刑法", "诉讼与非诉讼程序法"}
FOLDER_LEVELS = {"宪法": "constitution", "行政法规": "regulation", "部门规章": "rule", "司法解释": "interpretation",
                 "案例": "case", "地方性法规": "local", "其他": "other"}
PROVINCES = ("北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 "
             "四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门").split()
CITY_RE = re.compile(r"^(?:[\u4e00-\u9fa5]{2,3}(?:省|自治区))?([\u4e00-\u9fa5]{2,5}?)(?:市|经济特区|自治州)")
PREFIX = "中华人民共和国"
PART_SEPARATOR = " · "


def level_label(level: str | None) -> str:
    return LEVELS.get(level or "", "")


def classify(title: str, source_path: str | None = None, issuer: str = "") -> str:
    """The level of a document: from its corpus folder when it has one, else from its title."""
    folders = (source_path or "").replace("\\", "/").split("/")[:-1]
    for folder in reversed(folders):
        if folder in FOLDER_LEVELS:
            return FOLDER_LEVELS[folder]
        if folder in LAW_FOLDERS:
            return LAW
        if folder.endswith("地方法规"):
            return "local"
    title = title or ""
    if re.search(r"最高人民(法院|检察院)", title) or re.search(r"最高人民(法院|检察院)", issuer or ""):
        return "interpretation"
    if title.startswith("宪法") or title.startswith(PREFIX + "宪法"):
        return "constitution"
    if re.search(r"(省|自治区|市|自治州|经济特区)", title.split(PART_SEPARATOR)[0][:12]) and \
            re.search(r"(条例|规定|办法|决定)$", title):
        return "local"
    if re.search(r"法(\s*（.*）)?$", title.split(PART_SEPARATOR)[0]) or "全国人民代表大会" in (issuer or ""):
        return LAW
    if re.search(r"条例$", title) or (issuer or "").startswith("国务院"):
        return "regulation"
    if re.search(r"(规定|办法|细则)(（试行）)?$", title) and (issuer or "").endswith("部"):
        return "rule"
    return "other"


def region_of(title: str, source_path: str | None = None) -> str:
    """``省`` or ``省 · 市`` for a local regulation (the province from its folder or title,
    the city from its title), ``""`` otherwise."""
    path = (source_path or "").replace("\\", "/")
    province = next((p for p in PROVINCES if f"/{p}/" in f"/{path}" or path.split("/")[0].startswith(p)), "")
    if not province:
        province = next((p for p in PROVINCES if (title or "").startswith(p)), "")
    if not province:
        return ""
    city = ""
    match = CITY_RE.match(title or "")
    if match and not match.group(1).startswith(province):
        city = match.group(1)
    return f"{province}{PART_SEPARATOR}{city}" if city else province


def short_title(title: str) -> str:
    """The title without ``中华人民共和国`` and without its part (民法典 · 合同编 → 民法典)."""
    title = (title or "").split(PART_SEPARATOR)[0].strip()
    return title[len(PREFIX):] if title.startswith(PREFIX) and len(title) > len(PREFIX) else title


def part_of(title: str) -> str:
    return title.split(PART_SEPARATOR, 1)[1].strip() if PART_SEPARATOR in (title or "") else ""


# --- article numbers ----------------------------------------------------------------------

_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")}
_UNITS = {"十": 10, "百": 100, "千": 1000}
ARTICLE_RE = re.compile(r"第([零一二三四五六七八九十百千〇两0-9]{1,8})条")
ARTICLE_LINE_RE = re.compile(r"(?m)^\s*第([零一二三四五六七八九十百千〇]{1,8})条")


def chinese_number(text: str) -> int | None:
    """一千零七十九 → 1079, 十七 → 17, 133 → 133; ``None`` when it is not a number."""
    if text.isdigit():
        return int(text)
    total, digit = 0, 0
    for ch in text.replace("〇", "零").replace("两", "二"):
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            total += (digit or 1) * _UNITS[ch]
            digit = 0
        else:
            return None
    return total + digit


def article_range(body: str) -> str:
    """``"first-last"`` article numbers of a text whose lines start with 第X条, else ``""``."""
    first = ARTICLE_LINE_RE.search(body or "")
    if not first:
        return ""
    last = None
    tail = (body or "")[-20000:]
    for last in ARTICLE_LINE_RE.finditer(tail):
        pass
    a, b = chinese_number(first.group(1)), chinese_number(last.group(1)) if last else None
    if a is None:
        return ""
    return f"{a}-{max(a, b or a)}"
