"""The single ffmpeg pass that makes every rendition of one uploaded video.

One process decodes the upload once and writes, through ``split``/``asplit``:

* an HLS ladder in fragmented MP4 (``v0/ … vN/`` and ``master.m3u8``), 2-second keyframes;
* an audio-only HLS rendition (``audio/index.m3u8``) for listening on a weak connection;
* a small 360p MP4 (``download.mp4``) to take offline, and a poster (``poster.jpg``).

The command is built with ffmpeg-python; ``-progress pipe:1`` reports the encoded time,
turned into a percent for the editor.
"""
from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import ffmpeg

from school import children
from school.courses.probe import ProbeResult, ffmpeg_exe


@dataclass(frozen=True)
class Rung:
    height: int
    video_kbps: int
    audio_kbps: int
    channels: int

    @property
    def bandwidth_kbps(self) -> int:
        return self.video_kbps + self.audio_kbps


# About 240p/200 kb/s, 360p/500 kb/s, 480p/900 kb/s, 720p/2 Mb/s in total. The lowest rung
# leaves room for audio and container so it stays under 250 kb/s all in.
LADDER = (
    Rung(240, 150, 48, 1),
    Rung(360, 436, 64, 1),
    Rung(480, 836, 64, 2),
    Rung(720, 1900, 96, 2),
)
AUDIO_ONLY_KBPS = 56
DOWNLOAD_HEIGHT = 360
SEGMENT_SECONDS = 4
KEYFRAME_SECONDS = 2
# The first few video segments are short, so the first frame comes after ~2 s of the lowest
# rung (tens of KB), not 4: keyframes every 2 s for the first FIRST_SEGMENTS, every
# SEGMENT_SECONDS after; with hls_time = 2 the muxer cuts at each of them. (ffmpeg's
# hls_init_time cannot do this for a VOD playlist: it shortens every segment.)
FIRST_SEGMENTS = 3
FIRST_SEGMENT_SECONDS = KEYFRAME_SECONDS


def keyframe_expr() -> str:
    head = FIRST_SEGMENTS * FIRST_SEGMENT_SECONDS
    return (f"expr:if(lt(t,{head}),gte(t,n_forced*{FIRST_SEGMENT_SECONDS}),"
            f"gte(t,{head}+(n_forced-{FIRST_SEGMENTS})*{SEGMENT_SECONDS}))")


def even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def choose_ladder(info: ProbeResult) -> list[Rung]:
    """Every rung not above the source's size (its short side); a tiny source gets one rung of its own size."""
    if not info.has_video:
        return []
    short = min(info.width or 0, info.height or 0)
    rungs = [r for r in LADDER if r.height <= short]
    if not rungs:
        rungs = [Rung(even(short), LADDER[0].video_kbps, LADDER[0].audio_kbps, 1)]
    return rungs


def _scaled(stream, info: ProbeResult, short_side: int):
    # Keep the aspect ratio; the short side gets the rung's size (portrait phone videos too).
    if (info.width or 0) >= (info.height or 0):
        return stream.filter("scale", -2, short_side)
    return stream.filter("scale", short_side, -2)


def build(source: Path, out: Path, info: ProbeResult):
    """The ffmpeg-python graph for one pass; ``out`` must exist and be empty."""
    rungs = choose_ladder(info)
    inp = ffmpeg.input(str(source), protocol_whitelist="file")
    outputs = []
    keyframes = keyframe_expr()
    hls_common = {"hls_time": FIRST_SEGMENT_SECONDS, "hls_playlist_type": "vod", "hls_segment_type": "fmp4",
                  "hls_flags": "independent_segments"}
    n_audio = (len(rungs) + 2) if info.has_audio else 0
    audio = inp.audio.filter_multi_output("asplit", n_audio) if n_audio else None

    if rungs:
        video = inp.video.filter_multi_output("split", len(rungs) + 2)
        streams, options, stream_map = [], {}, []
        for i, rung in enumerate(rungs):
            streams.append(_scaled(video.stream(i), info, rung.height).filter("format", "yuv420p"))
            options.update({f"b:v:{i}": f"{rung.video_kbps}k", f"maxrate:v:{i}": f"{int(rung.video_kbps * 1.1)}k",
                            f"bufsize:v:{i}": f"{rung.video_kbps * 2}k"})
            if audio is not None:
                streams.append(audio.stream(i))
                options.update({f"b:a:{i}": f"{rung.audio_kbps}k", f"ac:a:{i}": rung.channels})
                stream_map.append(f"v:{i},a:{i}")
            else:
                stream_map.append(f"v:{i}")
        outputs.append(ffmpeg.output(
            *streams, str(out / "v%v" / "index.m3u8"), f="hls", vcodec="libx264", acodec="aac",
            preset="veryfast", **{"profile:v": "main", "sc_threshold": 0, "force_key_frames": keyframes,
                                  "var_stream_map": " ".join(stream_map), "master_pl_name": "master.m3u8",
                                  "hls_segment_filename": str(out / "v%v" / "seg%03d.m4s"),
                                  "hls_fmp4_init_filename": "init.mp4"},
            **hls_common, **options))
        # The offline copy: 360p (or the source's size), small, playable anywhere.
        download_h = min(DOWNLOAD_HEIGHT, rungs[-1].height)
        dl_streams = [_scaled(video.stream(len(rungs)), info, download_h).filter("format", "yuv420p")]
        dl_audio = {}
        if audio is not None:
            dl_streams.append(audio.stream(len(rungs)))
            dl_audio = {"acodec": "aac", "audio_bitrate": "64k", "ac": 1}
        outputs.append(ffmpeg.output(
            *dl_streams, str(out / "download.mp4"), vcodec="libx264", preset="veryfast", crf=28,
            maxrate="450k", bufsize="900k", movflags="+faststart", **{"profile:v": "main"}, **dl_audio))
        poster_at = min(1.0, info.duration / 2)
        poster = (video.stream(len(rungs) + 1).filter("select", f"gte(t,{poster_at:.2f})")
                  .filter("scale", -2, min(720, rungs[-1].height)))
        outputs.append(ffmpeg.output(poster, str(out / "poster.jpg"), vframes=1, update=1, **{"q:v": 4}))
    if audio is not None:
        outputs.append(ffmpeg.output(
            audio.stream(n_audio - 1), str(out / "audio" / "index.m3u8"), f="hls", acodec="aac",
            audio_bitrate=f"{AUDIO_ONLY_KBPS}k", ac=1,
            hls_segment_filename=str(out / "audio" / "seg%03d.m4s"), hls_fmp4_init_filename="init.mp4",
            **{**hls_common, "hls_time": SEGMENT_SECONDS}))
        if not rungs:  # an audio-only upload: its offline copy is an .m4a
            outputs.append(ffmpeg.output(audio.stream(n_audio - 2), str(out / "download.m4a"), acodec="aac",
                                         audio_bitrate="64k", ac=1, movflags="+faststart"))
    (out / "audio").mkdir(exist_ok=True)
    for i in range(len(rungs)):
        (out / f"v{i}").mkdir(exist_ok=True)
    return (ffmpeg.merge_outputs(*outputs)
            .global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-progress", "pipe:1", "-nostats")
            .overwrite_output())


def command(source: Path, out: Path, info: ProbeResult) -> list[str]:
    return build(source, out, info).compile(cmd=ffmpeg_exe())


class TranscodeError(RuntimeError):
    pass


def run(args: list[str], duration: float, progress: Callable[[float], None] | None = None) -> None:
    """Run ffmpeg, reporting percent from its ``-progress`` lines; raise with ffmpeg's message on failure."""
    with tempfile.TemporaryFile() as errors:
        # ffmpeg dies with this process (school.children): a killed worker leaves no ffmpeg behind.
        process = children.popen(args, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL)
        try:
            for raw in process.stdout:
                key, _, value = raw.decode("ascii", "replace").strip().partition("=")
                if key == "out_time_us" and value.isdigit() and duration > 0 and progress:
                    progress(min(99.0, int(value) / 1e6 / duration * 100))
            code = process.wait()
        finally:
            children.kill(process)
        if code != 0:
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace").strip().splitlines()
            raise TranscodeError("；".join(text[-3:]) or f"ffmpeg 退出码 {code}")
