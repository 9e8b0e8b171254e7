"""Login, logout, password change and the large-text switch."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from school.accounts import auth, devices, login_checks
from school.accounts.forms import ConfirmForm, LoginForm, PasswordChangeForm
from school.extensions import db
from school.timeutil import utcnow
from school.web import safe_next

bp = Blueprint("accounts", __name__, template_folder="templates")


@bp.before_app_request
def require_own_password():
    if login_checks.view_checks_login():
        return None  # the view checks it itself (``login_checks``)
    return login_checks.password_refusal()


def _policy() -> auth.ThrottlePolicy:
    cfg = current_app.config
    return auth.ThrottlePolicy(window=timedelta(seconds=cfg["LOGIN_WINDOW_SECONDS"]),
                               max_per_account=cfg["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
                               max_per_ip=cfg["LOGIN_MAX_FAILURES_PER_IP"])


def _safe_next(target: str | None) -> str:
    return safe_next(target, url_for("credits.home"))


def _begin_session(user) -> None:
    """A fresh cookie session and a new server-side token: no fixation, nothing carried over."""
    session.clear()
    auth.start_session(user, utcnow(), request.remote_addr, request.headers.get("User-Agent"))
    db.session.commit()
    login_user(user)
    session.permanent = True


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("credits.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = auth.authenticate(form.identifier.data, form.password.data,
                                     request.remote_addr or "unknown", _policy(), utcnow(),
                                     known_device=lambda user_id: devices.device_for(request, user_id))
        except auth.LoginError as exc:
            db.session.commit()  # the failed attempt must be counted even though we refuse
            flash(str(exc), "error")
            status = 429 if exc.throttled else 401
        else:
            next_url = _safe_next(request.args.get("next"))
            _begin_session(user)
            response = redirect(next_url)
            devices.remember(response, request, user.id)
            return response
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    auth.end_session(current_user.auth_token)
    db.session.commit()
    logout_user()
    session.clear()
    flash("您已安全退出", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if not auth.verify_password(user, form.current.data):
            form.current.errors.append("当前密码不正确")
        elif form.new.data == form.current.data:
            form.new.errors.append("新密码不能与当前密码相同")
        else:
            try:
                auth.set_password(user, form.new.data, utcnow(), by_owner=True)  # ends every session, this one too
            except auth.PasswordPolicyError as exc:
                form.new.errors.append(str(exc))
            else:
                _begin_session(user)
                flash("密码已修改，其他设备上的登录已全部退出", "success")
                return redirect(url_for("credits.home"))
    return render_template("accounts/password.html", form=form)


@bp.post("/account/large-text")
@login_required
def toggle_large_text():
    ConfirmForm().validate_on_submit()  # CSRF is checked globally; this just binds the form
    current_user.large_text = not current_user.large_text
    db.session.commit()
    return redirect(_safe_next(request.form.get("next")))
