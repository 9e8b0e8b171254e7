"""The pack's printable attendance sheet (签到表) for a station's group viewing.

Its headings are the labels of the 集中培训 form itself (``credits.forms.OfflineSessionForm``),
read from the form class, so the sheet and the screen the secretary types it into cannot
drift apart: 培训日期, 学时, 培训主题, 培训类型, 地点 above, the 参加人员 below (by name and
number, as the form's picker lists them), and the signed sheet is the form's attachment.
"""
from __future__ import annotations

from dataclasses import dataclass

from wtforms.fields.core import UnboundField

from school.courses.models import Course

ROWS = 30  # a village branch's members on one A4 page or two
HEADER_FIELDS = ("held_on", "hours", "topic", "session_type", "place")
COLUMNS = ("姓名", "党员编号", "签名")


@dataclass
class SheetField:
    name: str
    label: str
    value: str = ""


def form_labels() -> dict[str, str]:
    """Field name → label of the 集中培训 form, as the secretary sees it."""
    from school.credits.forms import OfflineSessionForm

    out = {}
    for name in dir(OfflineSessionForm):
        unbound = getattr(OfflineSessionForm, name, None)
        if isinstance(unbound, UnboundField):
            out[name] = unbound.args[0] if unbound.args else unbound.kwargs.get("label", name)
    return out


def sheet(course: Course) -> dict:
    """The template's context: the form's fields (topic and type filled in) and the lessons."""
    from school.credits.models import SESSION_TYPE_LABELS, SessionType

    labels = form_labels()
    values = {"topic": course.title, "session_type": SESSION_TYPE_LABELS[SessionType.REMOTE_SITE],
              "held_on": "　　　　年　　月　　日"}
    return dict(fields=[SheetField(name, labels[name], values.get(name, "")) for name in HEADER_FIELDS],
                attendees_label=labels["attendees"], attachment_label=labels["attachment"],
                columns=COLUMNS, rows=ROWS,
                lessons=[f"第 {lesson.position} 课　{lesson.title}" for lesson in course.lessons])
