"""Finding ffmpeg and checking that a stored upload really is audio or video.

ffprobe is not shipped in the imageio-ffmpeg wheel, so a file is probed by running
``ffmpeg -i FILE`` and reading the header it prints, then decoding its last seconds to
catch truncated files. ffmpeg only ever reads the local file (``-protocol_whitelist file``).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from school import children

# Extensions an editor may upload, and the demuxers ffmpeg may report for them.
ALLOWED_EXTENSIONS = {".mp4", ".m4v", ".mov", ".3gp", ".mkv", ".webm", ".avi", ".flv", ".ts", ".mpg", ".mpeg",
                      ".wmv", ".mp3", ".m4a", ".aac", ".wav", ".ogg", ".oga", ".amr"}
ALLOWED_FORMATS = {"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "avi", "flv", "mpegts",
                   "mpeg", "asf", "mp3", "aac", "wav", "ogg", "amr"}
PLAYLIST_MARKERS = (b"#EXTM3U", b"ffconcat", b"[playlist]", b"<?xml", b"#EXT-X")
TAIL_ERRORS = ("partial file", "invalid nal unit", "invalid data found", "error while decoding",
               "corrupt", "truncat", "incomplete frame", "packet too small")


class MediaRejected(ValueError):
    """An upload that is not a usable audio or video file; the message is for the editor."""


@dataclass
class ProbeResult:
    format_names: list[str]
    duration: float
    has_video: bool
    has_audio: bool
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The system's ffmpeg if on PATH, otherwise the binary shipped in the imageio-ffmpeg wheel."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


_INPUT = re.compile(r"^Input #0, ([^ ]+), from", re.M)
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #0:\d+[^:]*: Video: (\w+)[^\n]*?, (\d{2,5})x(\d{2,5})")
_AUDIO = re.compile(r"Stream #0:\d+[^:]*: Audio: (\w+)")


def parse_header(text: str) -> ProbeResult | None:
    """Read what ``ffmpeg -i`` printed about input #0; ``None`` when it could not open it."""
    found = _INPUT.search(text)
    if not found:
        return None
    duration = 0.0
    if m := _DURATION.search(text):
        duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    video = next((v for v in _VIDEO.finditer(text) if v.group(1) not in {"mjpeg", "png", "bmp"}), None)
    audio = _AUDIO.search(text)
    return ProbeResult(
        format_names=found.group(1).split(","), duration=duration,
        has_video=video is not None, has_audio=audio is not None,
        width=int(video.group(2)) if video else None, height=int(video.group(3)) if video else None,
        video_codec=video.group(1) if video else None, audio_codec=audio.group(1) if audio else None)


def _run(args: list[str], timeout: int) -> str:
    try:
        done = children.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MediaRejected("检查文件超时，文件可能已损坏")
    return done.stderr.decode("utf-8", "replace")


def probe(path: Path, original_name: str = "") -> ProbeResult:
    """Check ``path`` before anything else is done with it; raise ``MediaRejected`` with the reason."""
    name = original_name or path.name
    suffix = Path(name).suffix.lower()
    if suffix in {".m3u8", ".m3u", ".pls", ".txt", ".ffconcat", ".concat", ".xspf", ".cue", ".sdp"}:
        raise MediaRejected("不接受播放列表或拼接列表（如 .m3u8），请上传视频或音频文件本身")
    if suffix not in ALLOWED_EXTENSIONS:
        raise MediaRejected(f"不支持的文件类型“{suffix or '无扩展名'}”，请上传 MP4、MOV、MKV、WEBM、MP3、M4A 等音视频文件")
    if not path.is_file() or path.is_symlink():
        raise MediaRejected("文件不存在")
    size = path.stat().st_size
    if size == 0:
        raise MediaRejected("文件是空的（0 字节），请重新选择文件")
    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if any(head.startswith(marker) for marker in PLAYLIST_MARKERS):
        raise MediaRejected("这是一个播放列表或文本文件，不是视频，请上传视频或音频文件本身")
    header = _run(["-protocol_whitelist", "file", "-i", str(path)], timeout=60)
    result = parse_header(header)
    if result is None:
        raise MediaRejected("无法识别的文件：内容不是有效的音频或视频（可能是改了扩展名的其他文件，或文件已损坏）")
    if not set(result.format_names) & ALLOWED_FORMATS:
        raise MediaRejected(f"不支持的封装格式（{','.join(result.format_names)}），请上传常见的音视频文件")
    if not (result.has_video or result.has_audio):
        raise MediaRejected("文件中没有可播放的视频或音频")
    if result.duration <= 0.2:
        raise MediaRejected("无法读出视频时长，文件可能不完整或已损坏")
    # A truncated file often still has a complete header; decoding its last seconds tells.
    start = max(0.0, result.duration - 2.5)
    tail = _run(["-v", "error", "-protocol_whitelist", "file", "-ss", f"{start:.2f}", "-i", str(path),
                 "-f", "null", "-"], timeout=120).lower()
    if any(marker in tail for marker in TAIL_ERRORS):
        raise MediaRejected("文件不完整或已损坏（可能上传中断），请重新上传完整的文件")
    return result
