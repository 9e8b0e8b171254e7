"""Forms of 通知公告, reminders and study plans (CSRF from Flask-WTF; scope checked by the services)."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from school.form_fields import LocalDateField


class NoticeForm(FlaskForm):
    # Choices are the actor's organisations; a posted id outside them is refused by the service
    # with a message (validate_choice off), so a crafted form gets the same clear answer.
    org_id = SelectField("发往党组织（含下级）", coerce=int, validate_choice=False,
                         validators=[InputRequired("请选择党组织")])
    title = StringField("标题", validators=[DataRequired("请填写通知标题"), Length(max=200)])
    body = TextAreaField("正文（支持 Markdown）", validators=[Length(max=20000)])
    pinned = BooleanField("置顶")
    expires_on = LocalDateField("截止日期（可选，过后不再显示）", validators=[Optional()])
    attachment = FileField("附件（JPEG、PNG 或 PDF，可选）")
    token = HiddenField()


class ReminderForm(FlaskForm):
    title = StringField("标题", default="学习提醒", validators=[Length(max=200)])
    text = TextAreaField("提醒内容", validators=[DataRequired("请填写提醒内容"), Length(max=500, message="提醒内容不能超过 500 字")])
    token = HiddenField()
    source = HiddenField()
    link = HiddenField()


class PlanForm(FlaskForm):
    org_id = SelectField("党组织（含下级）", coerce=int, validate_choice=False, validators=[InputRequired("请选择党组织")])
    year = IntegerField("年度", validators=[InputRequired("请填写年度"), NumberRange(2000, 2100, "年度不正确")])
    title = StringField("计划名称", validators=[DataRequired("请填写计划名称"), Length(max=200)])


class PlanItemForm(FlaskForm):
    kind = SelectField("类型", validate_choice=False)
    ref_id = IntegerField("编号（课程或文献的编号）", validators=[InputRequired("请填写编号")])
    due_on = LocalDateField("完成期限", validators=[InputRequired("请填写完成期限")])
    reflection_required = BooleanField("完成后提交心得体会（由本组织书记审阅）")
    reflection_min_chars = IntegerField("心得体会最少字数", default=300,
                                        validators=[Optional(), NumberRange(0, 20000, "最少字数应在 0 到 20000 之间")])
