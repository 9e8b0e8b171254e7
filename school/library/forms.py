from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from school.library.categories import CATEGORIES
from school.library.models import STATUS_LABELS


class DocumentForm(FlaskForm):
    title = StringField("标题", validators=[DataRequired("请填写标题"), Length(max=300, message="标题不能超过 300 个字")])
    category = SelectField("分类", choices=list(CATEGORIES.items()))
    issuer = StringField("发布机关或来源", validators=[Optional(), Length(max=200)])
    published_on = DateField("发布日期", validators=[Optional()], format="%Y-%m-%d")
    tags = StringField("标签", validators=[Optional(), Length(max=500)], description="用逗号分隔，如：乡村振兴，基层治理")
    summary = TextAreaField("摘要", validators=[Optional(), Length(max=5000, message="摘要不能超过 5000 字")])
    body = TextAreaField("正文（Markdown）", validators=[Optional(), Length(max=5_000_000, message="正文过长")])
    status = SelectField("状态", choices=[(k.value, v) for k, v in STATUS_LABELS.items()])
    note = StringField("修改说明", validators=[Optional(), Length(max=200)])


class UploadForm(FlaskForm):
    file = FileField("选择文件", validators=[FileRequired("请选择要上传的文件")])
    category = SelectField("分类", choices=list(CATEGORIES.items()))


class ConfirmForm(FlaskForm):
    pass


class ColumnForm(FlaskForm):
    title = StringField("专栏名称", validators=[DataRequired("请填写专栏名称"), Length(max=200)])
    introduction = TextAreaField("专栏介绍（Markdown）", validators=[Optional(), Length(max=20000)])
    documents = TextAreaField("收录文献（每行一个文献编号，按顺序）", validators=[Optional(), Length(max=20000)])
    published = BooleanField("在图书馆首页展示")
