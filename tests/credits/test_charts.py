"""The SVG charts are well-formed XML and escape names."""
from xml.etree import ElementTree

from school.credits import charts


def test_bars_escape_names_and_clamp_percentages():
    svg = charts.org_bars("达标率", [("<script>alert(1)</script>支部", 140, "达标 140%"), ("东村党支部", 50, "达标 50%")])
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg") and "<script>" not in svg
    widths = [float(r.get("width")) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert widths == [260, 260, 260, 130]  # background, full bar (clamped to 100%), background, half


def test_histogram_and_empty_charts():
    svg = charts.histogram("分布", ["0 学时", "已达标"], [0, 0])
    ElementTree.fromstring(svg)
    assert "没有下级组织" in charts.org_bars("达标率", [])
