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


# A local people's congress in the lines above ``<!-- INFO END -->``: 浙江省第十二届人民代表大会…,
# 杭州市第十一届人民代表大会常务委员会…, 石柱土家族自治县第十七届人民代表大会….
LOCAL_CONGRESS_RE = re.compile(r"(?<![\u4e00-\u9fa5])[日]?([\u4e00-\u9fa5]{2,12}?)(省|自治区|市|自治州|自治县|县)第?[一二三四五六七八九十]+届人民代表大会")
# Cities whose regulations name no province (深圳经济特区…, 宁波市…, approved by "省十二届…").
CITY_PROVINCES = {"深圳": "广东", "珠海": "广东", "汕头": "广东", "广州": "广东", "厦门": "福建", "宁波": "浙江",
                  "杭州": "浙江", "青岛": "山东", "济南": "山东", "大连": "辽宁", "沈阳": "辽宁", "南京": "江苏",
                  "武汉": "湖北", "成都": "四川", "西安": "陕西", "长春": "吉林", "哈尔滨": "黑龙江", "郑州": "河南"}
ZONE_RE = re.compile(r"^中国（([\u4e00-\u9fa5]{2,3})）")  # 中国（浙江）自由贸易试验区条例


def classify(title: str, source_path: str | None = None, issuer: str = "", info: str = "") -> str:
    """The level of a document: from its corpus folder when it has one, else from its title,
    issuer and the lines about its adoption (``info``: passed by a local people's congress)."""
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
    congress = LOCAL_CONGRESS_RE.search(info or "")
    national = (info or "").find("全国人民代表大会")
    if not title.startswith(PREFIX) and (
            (congress and (national < 0 or congress.start() < national))
            or re.match(rf"^(?:{'|'.join(PROVINCES)})(?:省|市|自治区)?", title) and not title.startswith("台湾")
            or ZONE_RE.match(title)):
        return "local"
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


def region_of(title: str, source_path: str | None = None, info: str = "") -> str:
    """``省`` or ``省 · 市`` for a local regulation, ``""`` otherwise: the province from its
    folder (``…/广东/…``, ``广东地方法规/…``), its title (广东省…, 中国（浙江）…) or the people's
    congress that passed or approved it (``info``: 山东省第十二届人民代表大会常务委员会…批准),
    the city from its title (深圳经济特区…, 济南市…) or that congress (杭州市第十一届…)."""
    path = (source_path or "").replace("\\", "/")
    title = title or ""
    parts = path.split("/")[:-1]
    congresses = LOCAL_CONGRESS_RE.findall(info or "")
    zone = ZONE_RE.match(title)
    province = (next((p for p in PROVINCES for folder in parts if folder == p or folder.startswith(p + "地方法规")), "")
                or next((p for p in PROVINCES if title.startswith(p)), "")
                or (zone.group(1) if zone and zone.group(1) in PROVINCES else "")
                or next((p for name, _ in congresses for p in PROVINCES if name.endswith(p) or name == p), ""))
    city_match = CITY_RE.match(title)
    if not province:
        named = [city_match.group(1)] if city_match else []
        named += [name for name, kind in congresses if kind == "市"]
        province = next((CITY_PROVINCES[n] for n in named if n in CITY_PROVINCES), "")
    if not province:
        return ""
    city = ""
    match = CITY_RE.match(title)
    if match and not match.group(1).startswith(province):
        city = match.group(1)
    elif not match:
        city = next((name for name, kind in congresses if kind == "市" and not name.startswith(province)
                     and name not in PROVINCES), "")
    return f"{province}{PART_SEPARATOR}{city}" if city else province


def region_terms(region: str) -> list[str]:
    """What a region filter matches: 广东 · 深圳 → 广东 and 广东 · 深圳."""
    region = (region or "").strip()
    if not region:
        return []
    province = region.split(PART_SEPARATOR)[0].strip()
    return [province] if province == region else [province, region]


CITED_RE = re.compile(r"《([^《》\n]{2,60})》")


def cited_laws(body: str, limit: int = 6) -> list[str]:
    """The laws a text cites (《中华人民共和国劳动合同法》 → 劳动合同法), the most cited first."""
    counts: dict[str, int] = {}
    for name in CITED_RE.findall(body or ""):
        name = short_title(name.strip())
        if re.search(r"(法|条例|规定|办法|细则|解释|决定)$", name):
            counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda n: (-counts[n], n))[:limit]


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
