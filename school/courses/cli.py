"""``school courses …``: the same as the editor pages, for scripts and tests."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from school import diskspace
from school.extensions import db


@click.group("courses", help="课程：新建课程、添加视频、导出离线学习包。")
def courses_group():
    pass


def _course(slug: str):
    from school.courses.models import Course

    course = db.session.scalar(select(Course).where(Course.slug == slug))
    if course is None:
        raise click.ClickException(f"找不到课程：{slug}")
    return course


@courses_group.command("create", help="新建课程。SLUG 是课程代号（小写字母、数字、连字符），例：school courses create tea --title 茶叶种植 --track rural --category planting")
@click.argument("slug")
@click.option("--title", required=True, help="课程名称")
@click.option("--track", type=click.Choice(["theory", "rural"]), default="theory", show_default=True,
              help="theory 理论学习，rural 农村实用技术")
@click.option("--category", type=click.Choice(["planting", "breeding", "processing", "ecommerce", "labour"]),
              default=None, help="农村实用技术分类：种植、养殖、农产品加工、农村电商、务工技能")
@click.option("--required", is_flag=True, help="设为必修课（默认选修）")
@click.option("--summary", default="", help="课程简介")
@with_appcontext
def create_course(slug, title, track, category, required, summary):
    from school.courses import services
    from school.timeutil import utcnow

    if track == "rural" and category is None:
        category = "planting"
    try:
        course = services.save_course(services.CourseData(title=title, slug=slug, track=track, category=category,
                                                          required=required, summary=summary), None, utcnow())
    except services.CourseError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc))
    db.session.commit()
    click.echo(f"已创建课程：{course.title}（{course.slug}，编号 {course.id}）")


@courses_group.command("add-video", help="把视频文件 FILE 加为课程的一个课时：先检查文件，再排队转码（用 school jobs run --until-empty 处理）。")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--course", "slug", required=True, help="课程代号")
@click.option("--title", required=True, help="课时标题")
@with_appcontext
def add_video(file, slug, title):
    from school import jobs
    from school.courses import media, services
    from school.timeutil import utcnow

    course = _course(slug)
    source = Path(file)
    staging = media.media_root() / "uploads"
    staging.mkdir(exist_ok=True)
    # The check and the job work on a copy the server owns; the original file is left alone.
    handle = tempfile.NamedTemporaryFile(dir=staging, suffix=".part", delete=False)
    handle.close()
    copy = Path(handle.name)
    try:
        shutil.copyfile(source, copy)
    except OSError as exc:
        copy.unlink(missing_ok=True)  # the partial copy goes at once
        if diskspace.is_full(exc):
            raise click.ClickException(diskspace.message(
                f"无法把视频复制到媒体目录（{staging}），未添加课时，已删除复制了一半的文件。",
                "请清理磁盘（或加大磁盘）后重新运行此命令。"))
        raise click.ClickException(f"无法复制视频文件：{exc.strerror or exc}")
    try:
        lesson = services.add_video_lesson(course, title, copy, source.name, utcnow())
    except (services.CourseError, jobs.QueueUnavailable) as exc:
        db.session.rollback()
        copy.unlink(missing_ok=True)
        raise click.ClickException(str(exc))
    note = db.session.info.pop("school_jobs_note", None)  # Redis down, the in-process fallback configured
    db.session.commit()
    click.echo(f"已添加课时“{lesson.title}”（编号 {lesson.id}），转码任务 {lesson.job_id} 已排队。")
    if note:
        click.echo(note)


@courses_group.command("pack", help="导出离线学习包 OUT（zip）：各课 360p 视频、图文和文献课时的阅读页、课后自测题（不计学时）、集体收看签到表，以及不用服务器就能打开的 index.html，可拷到 U 盘给远程教育站点用。")
@click.argument("slug")
@click.argument("out", type=click.Path(dir_okay=False))
@with_appcontext
def pack_course(slug, out):
    from school.courses.pack import build_pack

    course = _course(slug)
    target = Path(out)
    if target.exists():
        raise click.ClickException(f"{target} 已存在，不会覆盖")
    try:
        done = build_pack(course, target)
    except OSError as exc:
        if diskspace.is_full(exc):
            raise click.ClickException(diskspace.message(
                f"学习包没有导出完，未留下任何文件（{target.parent}）。", "请换一个空间足够的位置或清理磁盘后重试。"))
        raise click.ClickException(f"无法写入 {target}：{exc.strerror or exc}")
    quiz = "课后自测题（quiz.html）、" if "quiz.html" in done.names else "（课程没有测试题，未含自测题）、"
    click.echo(f"已导出 {target}：{done.videos} 个视频、{done.readings} 篇阅读材料、{quiz}"
               f"签到表（attendance.html）和 index.html")


COMMANDS = [courses_group]
