"""The single ffmpeg pass on a generated 3-second 720p clip, and the master playlist read back
by ffmpeg as an HTTP client from a live test server."""
from __future__ import annotations

import re
import subprocess
import threading

import pytest
from werkzeug.serving import make_server

from school import jobs
from school.accounts.models import Role
from school.courses import media, services
from school.courses.models import Lesson, MediaStatus
from school.courses.probe import ffmpeg_exe, parse_header
from school.extensions import db
from school.timeutil import utcnow


def header(path_or_url: str, *extra: str) -> str:
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", *extra, "-i", path_or_url], capture_output=True, timeout=60)
    return done.stderr.decode("utf-8", "replace")


def add_and_transcode(course, clip, title="第一课"):
    upload = media.media_root() / "uploads"
    upload.mkdir(parents=True, exist_ok=True)
    staged = upload / "staged.part"
    staged.write_bytes(clip.read_bytes())
    lesson = services.add_video_lesson(course, title, staged, clip.name, utcnow())
    db.session.commit()
    results = jobs.run_until_empty()
    db.session.expire_all()
    return db.session.get(Lesson, lesson.id), results


def test_single_pass_makes_every_rendition(app, courses, clips):
    course = courses.course()
    lesson, results = add_and_transcode(course, clips["720p"])
    assert results == [(lesson.job_id, jobs.DONE)]
    assert lesson.media_status == MediaStatus.READY
    assert lesson.heights == [240, 360, 480, 720]
    folder = media.media_dir(lesson)
    master = (folder / "master.m3u8").read_text()
    assert re.findall(r"RESOLUTION=(\d+x\d+)", master) == ["426x240", "640x360", "854x480", "1280x720"]
    for i, (width, height) in enumerate([(426, 240), (640, 360), (854, 480), (1280, 720)]):
        info = parse_header(header(str(folder / f"v{i}" / "index.m3u8"), "-protocol_whitelist", "file"))
        assert (info.width, info.height) == (width, height)
        assert info.has_audio
        assert info.duration == pytest.approx(3.0, abs=0.15)
        playlist = (folder / f"v{i}" / "index.m3u8").read_text()
        assert "#EXT-X-TARGETDURATION" in playlist and "#EXT-X-ENDLIST" in playlist
    audio = parse_header(header(str(folder / "audio" / "index.m3u8"), "-protocol_whitelist", "file"))
    assert audio.has_audio and not audio.has_video and audio.duration == pytest.approx(3.0, abs=0.15)
    download = parse_header(header(str(folder / "download.mp4")))
    assert (download.width, download.height) == (640, 360) and download.duration == pytest.approx(3.0, abs=0.15)
    poster = parse_header(header(str(folder / "poster.jpg")))
    assert poster is not None and (folder / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"
    # The upload itself is gone once the renditions exist; nothing is left half-done.
    assert not list((media.media_root() / "sources").iterdir())
    assert not [p for p in (media.media_root() / "videos").iterdir() if p.name.startswith(".partial")]


def test_keyframes_every_two_seconds(app, courses, clips):
    course = courses.course()
    lesson, _ = add_and_transcode(course, clips["720p"])
    segment = media.media_dir(lesson) / "v0"
    # Key frames at 0, 2 s: ffmpeg's showinfo marks them with "iskey:1".
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-protocol_whitelist", "file", "-i",
                           str(segment / "index.m3u8"), "-vf", "showinfo", "-f", "null", "-"],
                          capture_output=True, timeout=60)
    times = [float(t) for t in re.findall(r"pts_time:([\d.]+).*?iskey:1", done.stderr.decode())]
    assert times[:2] == [pytest.approx(0.0, abs=0.05), pytest.approx(2.0, abs=0.05)]


def test_never_above_source_size(app, courses, clips):
    course = courses.course()
    lesson, _ = add_and_transcode(course, clips["small"])
    assert lesson.heights == [240, 360]
    master = (media.media_dir(lesson) / "master.m3u8").read_text()
    assert re.findall(r"RESOLUTION=(\d+x\d+)", master) == ["426x240", "640x360"]


def test_master_playlist_is_read_by_ffmpeg_over_http(app, client, auth, make, courses, clips):
    course = courses.course()
    lesson, _ = add_and_transcode(course, clips["720p"])
    member = make.user(role=Role.MEMBER)
    auth.login(member)
    cookie = client.get_cookie("school_session").value
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/courses/media/{lesson.id}/master.m3u8"
        done = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-headers", f"Cookie: school_session={cookie}\r\n", "-i", url,
             "-map", "0:p:0", "-f", "null", "-"], capture_output=True, timeout=120)
        text = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 0, text[-2000:]
        assert text.count("Program ") == 4  # one per ladder rung
        assert re.search(r"Duration: 00:00:0(2\.9|3\.0)", text)
        # Without the member's session the same URL is refused.
        anonymous = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", url, "-f", "null", "-"],
                                   capture_output=True, timeout=60)
        assert anonymous.returncode != 0
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_first_segments_are_short_then_four_seconds(tmp_path):
    """The first three video segments last 2 s (a quick first frame on a slow link), the rest 4 s;
    audio-only keeps 4-s segments."""
    from school.courses import transcode
    from school.courses.probe import probe
    from tests.factories import make_clip

    clip = make_clip(tmp_path / "clip14.mp4", seconds=14, size="320x240")
    out = tmp_path / "out"
    out.mkdir()
    info = probe(clip)
    transcode.run(transcode.command(clip, out, info), info.duration)
    durations = [round(float(d)) for d in re.findall(r"#EXTINF:([\d.]+)", (out / "v0" / "index.m3u8").read_text())]
    assert durations == [2, 2, 2, 4, 4]
    audio = [round(float(d)) for d in re.findall(r"#EXTINF:([\d.]+)", (out / "audio" / "index.m3u8").read_text())]
    assert audio[0] == 4
