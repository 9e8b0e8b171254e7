from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from school.accounts.models import CATEGORY_LABELS, ORG_KIND_LABELS


class LoginForm(FlaskForm):
    identifier = StringField("党员编号或手机号", validators=[DataRequired("请输入党员编号或手机号"), Length(max=40)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码")])


class PasswordChangeForm(FlaskForm):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    new = PasswordField("新密码", validators=[DataRequired("请输入新密码"), Length(min=8, message="新密码至少 8 位")])
    confirm = PasswordField("再次输入新密码", validators=[EqualTo("new", message="两次输入的新密码不一致")])


class OrgForm(FlaskForm):
    name = StringField("组织名称", validators=[DataRequired("请输入组织名称"), Length(max=120)])
    kind = SelectField("组织类型", choices=list(ORG_KIND_LABELS.items()), default="branch")
    parent_id = SelectField("上级组织", coerce=int)


class OrgRenameForm(FlaskForm):
    name = StringField("组织名称", validators=[DataRequired("请输入组织名称"), Length(max=120)])


class OrgMoveForm(FlaskForm):
    parent_id = SelectField("移动到", coerce=int)


class MemberForm(FlaskForm):
    name = StringField("姓名", validators=[DataRequired("请输入姓名"), Length(max=60)])
    member_no = StringField("党员编号", validators=[DataRequired("请输入党员编号"), Length(max=40)])
    phone = StringField("手机号", validators=[Optional(), Length(max=20)])
    email = StringField("电子邮箱（可不填；填写后提醒也会发到邮箱）", validators=[Optional(), Length(max=200)])
    org_id = SelectField("所在党组织", coerce=int)
    category = SelectField("人员类别", choices=list(CATEGORY_LABELS.items()))
    role = SelectField("角色")
    is_floating = BooleanField("流动党员")
    floating_place = StringField("流动去向（现居住或工作地）", validators=[Optional(), Length(max=120)])
    floating_contact = StringField("联系人", validators=[Optional(), Length(max=120)])
    active = BooleanField("在册（未停用）", default=True)
    password = PasswordField("初始密码（可不填，之后可重置）", validators=[Optional()])


class ImportForm(FlaskForm):
    file = FileField("党员名单文件（.csv 或 .xlsx）", validators=[FileRequired("请选择文件")])


class ConfirmForm(FlaskForm):
    """An empty form: just the CSRF token for a POST button."""
