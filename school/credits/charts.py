"""Server-drawn SVG charts for the branch report (no script, no external asset)."""
from __future__ import annotations

from xml.sax.saxutils import escape

FONT = 'font-family="WenQuanYi Micro Hei, Microsoft YaHei, PingFang SC, sans-serif"'
RED, GREY, INK = "#b71c1c", "#e0e0e0", "#212121"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(title)}" {FONT} font-size="12">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


# Phones (≤ 480 px) get the narrow drawings: about 340 units wide, so at a 360-px screen's ~320 px
# the 12-unit text is still ≥ 11 px (the wide ones would shrink it to 6–9 px).
NARROW_WIDTH = 340


def org_bars_narrow(title: str, lines: list[tuple[str, int, str]]) -> str:
    """The phone layout: each organisation's whole name on its own line, the bar and caption below."""
    row, bar_w = 44, 150
    height = 30 + row * max(len(lines), 1)
    body = [f'<text x="0" y="16" font-weight="bold" fill="{INK}">{escape(title)}</text>']
    if not lines:
        body.append(f'<text x="0" y="44" fill="{INK}">没有下级组织</text>')
    for i, (name, percent, caption) in enumerate(lines):
        y = 28 + i * row
        percent = max(0, min(100, percent))
        short = name if len(name) <= 26 else name[:25] + "…"
        body += [
            f'<text x="0" y="{y + 13}" fill="{INK}">{escape(short)}</text>',
            f'<rect x="0" y="{y + 19}" width="{bar_w}" height="14" fill="{GREY}"/>',
            f'<rect x="0" y="{y + 19}" width="{bar_w * percent / 100:.1f}" height="14" fill="{RED}">'
            f"<title>{escape(name)}：{escape(caption)}</title></rect>",
            f'<text x="{bar_w + 6}" y="{y + 31}" fill="{INK}">{escape(caption)}</text>',
        ]
    return _svg(NARROW_WIDTH, height, title, body)


def org_bars(title: str, lines: list[tuple[str, int, str]], narrow: bool = False) -> str:
    """One horizontal bar per sub-organisation: (name, percent met 0–100, caption)."""
    if narrow:
        return org_bars_narrow(title, lines)
    row, label_w, bar_w = 26, 170, 260
    height = 30 + row * max(len(lines), 1)
    body = [f'<text x="0" y="16" font-weight="bold" fill="{INK}">{escape(title)}</text>']
    if not lines:
        body.append(f'<text x="0" y="44" fill="{INK}">没有下级组织</text>')
    for i, (name, percent, caption) in enumerate(lines):
        y = 28 + i * row
        percent = max(0, min(100, percent))
        short = name if len(name) <= 12 else name[:11] + "…"
        body += [
            f'<text x="0" y="{y + 15}" fill="{INK}">{escape(short)}</text>',
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="16" fill="{GREY}"/>',
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w * percent / 100:.1f}" height="16" fill="{RED}">'
            f"<title>{escape(name)}：{escape(caption)}</title></rect>",
            f'<text x="{label_w + bar_w + 6}" y="{y + 15}" fill="{INK}">{escape(caption)}</text>',
        ]
    return _svg(label_w + bar_w + 150, height, title, body)


def histogram(title: str, labels: list[str], counts: list[int], narrow: bool = False) -> str:
    """Vertical bars: how many members fall in each band of the requirement."""
    col, chart_h, top = (min(54, (NARROW_WIDTH - 20) // max(len(labels), 1)) if narrow else 70), 150, 40
    peak = max(counts) if counts and max(counts) > 0 else 1
    body = [f'<text x="0" y="16" font-weight="bold" fill="{INK}">{escape(title)}</text>']
    for i, (label, count) in enumerate(zip(labels, counts)):
        h = chart_h * count / peak
        x = 10 + i * col
        body += [
            f'<rect x="{x}" y="{top + chart_h - h:.1f}" width="{col - 16}" height="{h:.1f}" '
            f'fill="{RED if i == len(labels) - 1 else "#e57373"}"><title>{escape(label)}：{count} 人</title></rect>',
            f'<text x="{x + (col - 16) / 2}" y="{top + chart_h - h - 4:.1f}" text-anchor="middle" '
            f'fill="{INK}">{count}</text>',
            f'<text x="{x + (col - 16) / 2}" y="{top + chart_h + 16}" text-anchor="middle" '
            f'fill="{INK}">{escape(label)}</text>',
        ]
    return _svg(20 + col * len(labels), top + chart_h + 26, title, body)
