"""Form fields several packages share, with their parse errors in Chinese."""
from __future__ import annotations

from wtforms import DateField, DecimalField, SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes (easier than a multi-select on a phone)."""
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class HoursField(DecimalField):
    """A decimal field whose parse error is in Chinese."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("请填写数字，例如 2 或 1.5")


class LocalDateField(DateField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("日期格式应为 年-月-日，例如 2026-03-01")
