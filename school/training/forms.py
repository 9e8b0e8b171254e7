from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from school.accounts.models import CATEGORY_LABELS
from school.form_fields import HoursField, LocalDateField, MultiCheckboxField
from school.training.models import ENROL_MODE_LABELS, FLOATING_LABELS, ITEM_KIND_LABELS


class ClassForm(FlaskForm):
    title = StringField("专题班名称", validators=[DataRequired("请填写专题班名称"), Length(max=200)])
    theme = StringField("主题", validators=[Length(max=200)])
    description = TextAreaField("简介", validators=[Length(max=5000)])
    cover = FileField("封面图片（可不传；PNG、JPEG、GIF 或 WebP）")
    org_id = SelectField("主办单位", coerce=int, choices=[], validate_choice=False)
    starts_on = LocalDateField("学习开始日期", validators=[InputRequired("请填写学习开始日期")])
    ends_on = LocalDateField("学习结束日期（含当天）", validators=[InputRequired("请填写学习结束日期")])
    enrol_opens_on = LocalDateField("报名开始日期", validators=[InputRequired("请填写报名开始日期")])
    enrol_closes_on = LocalDateField("报名截止日期（含当天）", validators=[InputRequired("请填写报名截止日期")])
    capacity = IntegerField("名额（留空为不限）", validators=[Optional(), NumberRange(1, 100000, "名额应在 1 到 100000 之间")])
    enrol_mode = SelectField("报名方式", choices=list(ENROL_MODE_LABELS.items()), default="open", validate_choice=False)
    # Checked by the service, which explains in Chinese what is outside the secretary's scope.
    audience_orgs = MultiCheckboxField("面向的党组织（含下级组织）", coerce=int, choices=[], validate_choice=False)
    audience_categories = MultiCheckboxField("面向的人员类别（都不选则不限类别）", choices=list(CATEGORY_LABELS.items()))
    floating = SelectField("流动党员", choices=list(FLOATING_LABELS.items()), validate_choice=False)
    electives_required = IntegerField("至少完成的选学项目数", default=0,
                                      validators=[InputRequired("请填写选学项目数"), NumberRange(0, 100, "应在 0 到 100 之间")])
    exam_id = IntegerField("结业考试编号（可不填）", validators=[Optional()])
    hours = HoursField("结业学时", places=2, default=0,
                       validators=[InputRequired("请填写结业学时"), NumberRange(0, 200, "应在 0 到 200 之间")])
    credit_kind = SelectField("学时类别", choices=[("online", "网络学习"), ("concentrated", "集中培训")],
                              validate_choice=False)
    reflection_required = BooleanField("要求提交心得体会")
    reflection_min_chars = IntegerField("心得体会最少字数", default=300,
                                        validators=[InputRequired("请填写最少字数"), NumberRange(0, 20000, "应在 0 到 20000 之间")])
    published = BooleanField("发布（面向对象可见）")


class ItemForm(FlaskForm):
    kind = SelectField("类型", choices=list(ITEM_KIND_LABELS.items()), validate_choice=False)
    required = BooleanField("必学（不勾选为选学）", default=True)
    course_id = SelectField("课程", coerce=int, choices=[], validate_choice=False)
    document_ref = StringField("图书馆文献编号或完整标题", validators=[Length(max=300)])
    title = StringField("学习材料标题", validators=[Length(max=200)])
    body = TextAreaField("学习材料正文（Markdown）", validators=[Length(max=200000)])


class ReflectionForm(FlaskForm):
    body = TextAreaField("心得体会", validators=[Length(max=20000, message="心得体会不能超过 20000 字")])
    image = FileField("附图片（可不传；PNG、JPEG、GIF 或 WebP）")


class ReviewForm(FlaskForm):
    verdict = SelectField("审阅结果", choices=[("excellent", "优秀"), ("passed", "合格"), ("returned", "退回修改")],
                          validate_choice=False)
    comment = TextAreaField("评语", validators=[Length(max=1000)])
    feature = BooleanField("评为优秀时在班内展示")


class ReasonForm(FlaskForm):
    reason = StringField("原因", validators=[Length(max=300)])


class SealForm(FlaskForm):
    org_id = SelectField("组织", coerce=int, choices=[], validate_choice=False)
    file = FileField("公章图片（PNG 透明底最佳）")


class PlainForm(FlaskForm):
    """Buttons that only need the CSRF token."""
