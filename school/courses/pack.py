"""The offline station pack: a zip a village study station (远程教育站点) copies to a USB stick.

It holds each video lesson's small MP4 and an ``index.html`` that plays them in any
browser straight from the stick, with no server and nothing loaded from outside.
"""
from __future__ import annotations

import zipfile
from html import escape
from pathlib import Path

from school.courses import media
from school.courses.models import Course, MediaStatus
from school.safe_html import markdown_to_safe_html

PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · 离线学习包</title>
<style>
body {{ font-family: "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; margin: 0 auto; max-width: 960px;
       padding: 1rem; line-height: 1.6; color: #222; }}
h1 {{ color: #b71c1c; font-size: 1.6rem; }}
section {{ border-top: 1px solid #ddd; padding: 1rem 0; }}
video {{ width: 100%; max-height: 70vh; background: #000; }}
.hint {{ color: #666; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{summary}</p>
<p class="hint">本学习包可直接在电脑或手机的浏览器中打开，无需联网。离线观看不计入网上学时。</p>
{lessons}
</body>
</html>
"""


def build_pack(course: Course, target: Path) -> list[str]:
    """Write the zip to ``target``; returns the names it contains."""
    sections, names = [], []
    with zipfile.ZipFile(target, "w") as archive:
        for lesson in course.lessons:
            heading = f"<h2>第 {lesson.position} 课　{escape(lesson.title)}</h2>"
            if lesson.is_video:
                folder = media.media_dir(lesson)
                source = None
                if folder is not None and lesson.media_status == MediaStatus.READY:
                    source = next((p for p in (folder / "download.mp4", folder / "download.m4a") if p.is_file()), None)
                if source is None:
                    sections.append(f"<section>{heading}<p class=\"hint\">此课视频尚未处理完成，未包含在学习包中。</p></section>")
                    continue
                name = f"videos/{lesson.position:02d}{source.suffix}"
                archive.write(source, name, compress_type=zipfile.ZIP_STORED)  # already compressed
                names.append(name)
                tag = "video" if source.suffix == ".mp4" else "audio"
                sections.append(f"<section>{heading}<{tag} controls preload=\"metadata\" src=\"{name}\"></{tag}>"
                                f"<p><a href=\"{name}\" download>保存此视频</a></p></section>")
            else:
                sections.append(f"<section>{heading}{markdown_to_safe_html(lesson.body_md)}</section>")
        page = PAGE.format(title=escape(course.title), summary=escape(course.summary), lessons="\n".join(sections))
        archive.writestr("index.html", page, compress_type=zipfile.ZIP_DEFLATED)
        names.append("index.html")
    return names
