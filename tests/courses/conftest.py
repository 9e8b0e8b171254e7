"""Course fixtures: clips generated with ffmpeg's lavfi sources (no media is committed), one real
transcode shared by the session, and factories for courses and ready video lessons."""
from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from school.courses import media, services, transcode
from school.courses.models import Course, Lesson, LessonKind, MediaStatus
from school.courses.probe import ffmpeg_exe, probe
from school.extensions import db
from school.timeutil import utcnow


def make_clip(path: Path, seconds: float = 3, size: str = "1280x720", audio: bool = True, video: bool = True,
              extra: tuple = ()) -> Path:
    args = [ffmpeg_exe(), "-v", "error", "-y"]
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}:rate=25"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    if video:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac" if path.suffix != ".mp3" else "libmp3lame"]
    args += [*extra, str(path)]
    subprocess.run(args, check=True)
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {
        "720p": make_clip(folder / "clip720.mp4"),
        "small": make_clip(folder / "clip-small.mp4", seconds=8, size="640x360", extra=("-movflags", "+faststart")),
    }


@pytest.fixture(scope="session")
def transcoded(tmp_path_factory, clips):
    """The renditions (240p and 360p) of the 8-second 360p clip, made once by the real single pass."""
    out = tmp_path_factory.mktemp("renditions")
    info = probe(clips["small"])
    transcode.run(transcode.command(clips["small"], out, info), info.duration)
    return out, info


class CourseFactory:
    def __init__(self, transcoded):
        self.transcoded = transcoded

    def course(self, slug=None, orgs=(), categories=(), **fields) -> Course:
        data = services.CourseData(title=fields.pop("title", "测试课程"), slug=slug or f"c-{secrets.token_hex(4)}",
                                   audience_org_ids=tuple(o.id for o in orgs), audience_categories=tuple(categories),
                                   **fields)
        course = services.save_course(data, None, utcnow())
        db.session.commit()
        return course

    def text_lesson(self, course, title="学习材料", body="# 标题\n\n正文") -> Lesson:
        lesson = services.add_text_lesson(course, title, body, utcnow())
        db.session.commit()
        return lesson

    def video_lesson(self, course, title="视频课") -> Lesson:
        """A ready lesson whose files are a copy of the session's real renditions."""
        out, info = self.transcoded
        key = secrets.token_hex(10)
        shutil.copytree(out, media.media_root() / "videos" / key)
        lesson = Lesson(course=course, title=title, kind=LessonKind.VIDEO, position=len(course.lessons) + 1,
                        media_key=key, media_status=MediaStatus.READY, duration_seconds=info.duration,
                        width=info.width, height=info.height, has_video=True,
                        ladder=",".join(str(r.height) for r in transcode.choose_ladder(info)))
        db.session.add(lesson)
        db.session.commit()
        return lesson


@pytest.fixture
def courses(app, transcoded):
    return CourseFactory(transcoded)
