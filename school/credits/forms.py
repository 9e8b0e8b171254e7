from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class ReverseForm(FlaskForm):
    reason = StringField("更正原因", validators=[DataRequired("请填写更正原因"), Length(max=300)])
