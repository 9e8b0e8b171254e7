"""Flask-WTF forms for exams and the question bank (CSRF included)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from school.accounts.models import CATEGORY_LABELS
from school.exams.formats import FORMATS
from school.exams.models import REVIEW_LABELS


class ExamForm(FlaskForm):
    title = StringField("考试名称", validators=[DataRequired("请填写考试名称"), Length(max=200)])
    instructions = TextAreaField("考试说明（支持 Markdown）", validators=[Length(max=5000)])
    course_id = IntegerField("所属课程编号（可不填）", validators=[Optional(), NumberRange(min=1, message="请填写正确的课程编号")])
    opens_at = DateTimeLocalField("开始时间（北京时间）", validators=[Optional()], format="%Y-%m-%dT%H:%M")
    closes_at = DateTimeLocalField("结束时间（北京时间）", validators=[Optional()], format="%Y-%m-%dT%H:%M")
    time_limit_minutes = IntegerField("答题时限（分钟，不填为不限时）",
                                      validators=[Optional(), NumberRange(1, 24 * 60, "时限应在 1 到 1440 分钟之间")])
    attempts_allowed = IntegerField("允许作答次数（0 为不限）", default=1,
                                    validators=[InputRequired("请填写作答次数"), NumberRange(0, 100, "次数应在 0 到 100 之间")])
    grading = SelectField("成绩取", choices=[("highest", "最高一次"), ("last", "最后一次")], default="highest")
    pass_percent = IntegerField("及格线（百分制）", default=60,
                                validators=[InputRequired("请填写及格线"), NumberRange(0, 100, "及格线应在 0 到 100 之间")])
    credit_hours = DecimalField("通过可得学时（不填用学时规则中的默认值）", places=2,
                                validators=[Optional(), NumberRange(0, 100, "学时应在 0 到 100 之间")])
    audience_orgs = SelectMultipleField("参考组织（不选为全部；含下级组织）", coerce=int, validators=[Optional()])
    audience_categories = SelectMultipleField("参考人员类别（不选为全部）", choices=list(CATEGORY_LABELS.items()),
                                              validators=[Optional()])
    selection_mode = SelectField("组卷方式", choices=[("fixed", "固定题目"), ("draw", "按分类和难度随机抽题")],
                                 default="fixed")
    fixed_questions = SelectMultipleField("固定题目", coerce=int, validators=[Optional()])
    draw_rules = TextAreaField("随机抽题规则：每行“分类 | 难度(1–5，可空) | 题数”", validators=[Length(max=3000)])
    shuffle_questions = BooleanField("打乱题目顺序")
    shuffle_options = BooleanField("打乱选项顺序")
    one_per_page = BooleanField("每页一题（否则全部题目在一页）")
    review = SelectField("交卷后查看", choices=list(REVIEW_LABELS.items()), default="after_submit")
    review_answers = BooleanField("查看时显示正确答案和解析")
    graders = SelectField("主观题阅卷人", choices=[("editors", "出题人（编辑）"), ("secretaries", "出题人和本组织书记（只阅本组织党员）")],
                          default="editors")
    anonymous_grading = BooleanField("匿名阅卷（阅卷时不显示作答人）", default=True)
    second_grader_margin = DecimalField("双评：两人评分相差超过几分时由第三人裁定（留空为一人评分）", places=2,
                                        validators=[Optional(), NumberRange(0, 100, "应在 0 到 100 之间")])
    REVIEW_HINT = "党员还有作答次数时，只显示得分和自己的答案；用完全部次数或考试结束后，才按此设置显示正确答案和解析。"
    published = BooleanField("发布（党员可见）")

    def validate_closes_at(self, field):
        if field.data and self.opens_at.data and field.data <= self.opens_at.data:
            raise ValidationError("结束时间应晚于开始时间")


IMAGE_TYPES = "image/png,image/jpeg,image/gif,image/webp"


class QuestionForm(FlaskForm):
    # Not DataRequired: inserting a picture into a question not yet written is fine (see validate_gift).
    gift = TextAreaField("题目（GIFT 格式）", validators=[Length(max=20000)])
    category = StringField("分类（用 / 分隔层级，如：党章/总纲）", validators=[Length(max=300)])
    points = DecimalField("分值", places=2, default=1,
                          validators=[InputRequired("请填写分值"), NumberRange(0.01, 100, "分值应在 0.01 到 100 之间")])
    difficulty = SelectField("难度", coerce=int, default=3,
                             choices=[(1, "1 易"), (2, "2 较易"), (3, "3 中"), (4, "4 较难"), (5, "5 难")])
    tags = StringField("标签（逗号分隔）", validators=[Length(max=300)])
    # Written questions (简答 / 论述, GIFT ``{}``): for graders only, never shown to members.
    written_kind = SelectField("主观题类型", choices=[("essay", "论述题"), ("short", "简答题")], default="essay")
    reference = TextAreaField("参考答案（仅阅卷人可见）", validators=[Length(max=20000)])
    rubric = TextAreaField("评分标准（仅阅卷人可见）", validators=[Length(max=20000)])
    min_length = IntegerField("最少字数", default=0, validators=[Optional(), NumberRange(0, 20000, "字数应在 0 到 20000 之间")])
    max_length = IntegerField("最多字数", validators=[Optional(), NumberRange(1, 20000, "字数应在 1 到 20000 之间")])
    # Inserting a picture: the same form is posted, so what the editor has typed comes back with it.
    image = FileField("图片文件", render_kw={"accept": IMAGE_TYPES})
    image_alt = StringField("图片说明（看不到图片时显示，可不填）", validators=[Length(max=100)])
    image_at = HiddenField()  # the cursor in the GIFT text, sent by the page's script
    insert_image = SubmitField("插入图片", render_kw={"formnovalidate": True})

    def wants_image(self) -> bool:
        """The editor pressed 插入图片, or chose a picture and pressed 保存 (it is inserted, not lost)."""
        upload = self.image.data
        return bool(self.insert_image.data) or bool(upload and getattr(upload, "filename", ""))

    def cursor(self) -> int | None:
        value = (self.image_at.data or "").strip()
        return int(value) if value.isdigit() else None

    def validate_gift(self, field):
        if not self.wants_image() and not (field.data or "").strip():
            raise ValidationError("请填写题目")


class ImportForm(FlaskForm):
    file = FileField("题库文件", validators=[FileRequired("请选择文件")])
    format = SelectField("格式", choices=list(FORMATS.items()), default="xlsx")
    category = StringField("导入到分类（可不填；文件中自带的分类放在它下面）", validators=[Length(max=300)])


class ConfirmImportForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
    format = HiddenField(validators=[DataRequired()])
    category = HiddenField()
    filename = HiddenField()


class ConfirmForm(FlaskForm):
    pass
