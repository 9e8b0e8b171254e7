from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from school.accounts.models import CATEGORY_LABELS
from school.courses.models import COMPLETION_LABELS, RURAL_CATEGORIES, TRACK_LABELS
from school.form_fields import MultiCheckboxField


class CourseForm(FlaskForm):
    title = StringField("课程名称", validators=[DataRequired("请填写课程名称"), Length(max=200)])
    slug = StringField("课程代号（网址和命令行用，小写字母、数字、连字符）",
                       validators=[DataRequired("请填写课程代号"), Length(max=79)])
    summary = TextAreaField("课程简介", validators=[Length(max=5000)])
    track = SelectField("课程类别", choices=list(TRACK_LABELS.items()), validate_choice=False)
    # Checked by the service, which explains in Chinese what is wrong.
    category = SelectField("农村实用技术分类", choices=[("", "（非农村实用技术课程）")] + list(RURAL_CATEGORIES.items()),
                           validate_choice=False)
    required = BooleanField("必修课（不勾选为选修）")
    completion_mode = SelectField("完成方式", choices=list(COMPLETION_LABELS.items()), validate_choice=False)
    credit_hours = DecimalField("学时（留空则按课时长度自动计算）", places=2, validators=[
        Optional(), NumberRange(0.01, 100, "学时应在 0.01 到 100 之间")])
    sequential = BooleanField("必须学完上一课才能学下一课")
    no_seek_ahead = BooleanField("必修课首次学习时不能快进到未看过的位置", default=True)
    presence_min_minutes = IntegerField("“还在学习吗？”间隔下限（分钟，留空按学时计算规则，0 表示不提醒）",
                                        validators=[Optional(), NumberRange(0, 240, "应在 0 到 240 分钟之间")])
    presence_max_minutes = IntegerField("“还在学习吗？”间隔上限（分钟，留空同下限）",
                                        validators=[Optional(), NumberRange(0, 240, "应在 0 到 240 分钟之间")])
    published = BooleanField("发布（党员可见）", default=True)
    reflection_required = BooleanField("要求学员提交心得体会（由所在党组织书记或编辑审阅）")
    reflection_min_chars = IntegerField("心得体会最少字数", default=300,
                                        validators=[Optional(), NumberRange(0, 20000, "最少字数应在 0 到 20000 之间")])
    audience_orgs = MultiCheckboxField("面向的党组织（含下级组织；都不选则不限组织）", coerce=int, choices=[])
    audience_categories = MultiCheckboxField("面向的人员类别（都不选则不限类别）",
                                             choices=list(CATEGORY_LABELS.items()))


class TextLessonForm(FlaskForm):
    title = StringField("课时标题", validators=[DataRequired("请填写课时标题"), Length(max=200)])
    body = TextAreaField("正文（Markdown）", validators=[DataRequired("请填写课时正文"), Length(max=5_000_000, message="课时正文过长，请拆分为几个课时")])


class DocumentLessonForm(FlaskForm):
    reference = StringField("图书馆文献编号或完整标题", validators=[DataRequired("请填写文献编号或标题"), Length(max=300)])
    title = StringField("课时标题（可不填，默认用文献标题）", validators=[Length(max=200)])


class SubtitlesForm(FlaskForm):
    file = FileField("WebVTT 字幕文件（.vtt）")


class CoverForm(FlaskForm):
    file = FileField("封面图片（JPG、PNG）")


class PlainForm(FlaskForm):
    """Buttons that only need the CSRF token."""
