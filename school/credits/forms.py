from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from school.credits.models import SESSION_TYPE_LABELS
from school.form_fields import HoursField, LocalDateField


class ReverseForm(FlaskForm):
    reason = StringField("更正原因", validators=[DataRequired("请填写更正原因"), Length(max=300)])






class OfflineSessionForm(FlaskForm):
    """A session for several members; the attendee choices are the chosen organisation's members."""

    held_on = LocalDateField("培训日期", validators=[InputRequired("请填写培训日期")])
    hours = HoursField("学时", places=2, validators=[InputRequired("请填写学时"),
                                                      NumberRange(0.01, 1000, "学时必须大于 0")])
    topic = StringField("培训主题", validators=[DataRequired("请填写培训主题"), Length(max=200)])
    session_type = SelectField("培训类型", choices=list(SESSION_TYPE_LABELS.items()))
    place = StringField("地点", validators=[Optional(), Length(max=200)])
    # Choices are checked by the service (scope and organisation), with a Chinese message.
    attendees = SelectMultipleField("参加人员", coerce=int, validate_choice=False,
                                    validators=[DataRequired("请至少选择一名参加人员")])
    attachment = FileField("附件（签到表照片或 PDF，可选）")


class BackfillForm(FlaskForm):
    """A back-fill (补录) for one member, with the evidence that it happened."""

    member_id = SelectField("党员", coerce=int, validate_choice=False, validators=[DataRequired("请选择党员")])
    held_on = LocalDateField("培训日期", validators=[InputRequired("请填写培训日期")])
    hours = HoursField("学时", places=2, validators=[InputRequired("请填写学时"),
                                                      NumberRange(0.01, 1000, "学时必须大于 0")])
    topic = StringField("培训主题", validators=[DataRequired("请填写培训主题"), Length(max=200)])
    session_type = SelectField("培训类型", choices=list(SESSION_TYPE_LABELS.items()))
    place = StringField("地点", validators=[Optional(), Length(max=200)])
    evidence = TextAreaField("证明材料说明", validators=[DataRequired("补录必须填写证明材料说明"), Length(max=500)])
    attachment = FileField("附件（证明材料照片或 PDF，可选）")


class RejectForm(FlaskForm):
    reason = TextAreaField("退回原因", validators=[DataRequired("退回时必须填写原因"), Length(max=500)])
