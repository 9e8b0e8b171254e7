"""Benchmark of the single-pass ladder (issue 4).

Generates a 60-second 720p clip (ffmpeg testsrc2 + sine), then in the same run:

* the single ffmpeg pass the site uses (school.courses.transcode) — speed as a multiple of real time;
* the baseline: the same renditions made by one ffmpeg run each — and the ratio of the two;
* the real average bitrate of every rendition, container and audio included.

Targets: lowest video rendition <= 250 kb/s all in, audio-only <= 64 kb/s.

    .venv/bin/python bench/transcode.py [--seconds 60] [--runs 1]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from school.courses import transcode  # noqa: E402
from school.courses.probe import ffmpeg_exe, probe  # noqa: E402


def make_clip(path: Path, seconds: int) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=duration={seconds}:size=1280x720:rate=25",
                    "-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=4:duration={seconds}",
                    "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "128k", str(path)], check=True)


def separate_runs(source: Path, out: Path, info) -> list[list[str]]:
    """The baseline: every rendition of the ladder by its own ffmpeg process (same settings)."""
    commands = []
    keyframes = f"expr:gte(t,n_forced*{transcode.KEYFRAME_SECONDS})"
    hls = {"hls_time": transcode.SEGMENT_SECONDS, "hls_playlist_type": "vod", "hls_segment_type": "fmp4"}
    rungs = transcode.choose_ladder(info)
    for i, rung in enumerate(rungs):
        folder = out / f"v{i}"
        folder.mkdir(parents=True)
        inp = ffmpeg.input(str(source), protocol_whitelist="file")
        video = inp.video.filter("scale", -2, rung.height).filter("format", "yuv420p")
        node = ffmpeg.output(video, inp.audio, str(folder / "index.m3u8"), f="hls", vcodec="libx264", acodec="aac",
                             preset="veryfast", video_bitrate=f"{rung.video_kbps}k",
                             maxrate=f"{int(rung.video_kbps * 1.1)}k", bufsize=f"{rung.video_kbps * 2}k",
                             audio_bitrate=f"{rung.audio_kbps}k", ac=rung.channels,
                             hls_segment_filename=str(folder / "seg%03d.m4s"),
                             **{"profile:v": "main", "sc_threshold": 0, "force_key_frames": keyframes}, **hls)
        commands.append(node.overwrite_output().compile(cmd=ffmpeg_exe()))
    (out / "audio").mkdir()
    inp = ffmpeg.input(str(source), protocol_whitelist="file")
    commands.append(ffmpeg.output(inp.audio, str(out / "audio" / "index.m3u8"), f="hls", acodec="aac",
                                  audio_bitrate=f"{transcode.AUDIO_ONLY_KBPS}k", ac=1,
                                  hls_segment_filename=str(out / "audio" / "seg%03d.m4s"), **hls)
                    .overwrite_output().compile(cmd=ffmpeg_exe()))
    inp = ffmpeg.input(str(source), protocol_whitelist="file")
    commands.append(ffmpeg.output(inp.video.filter("scale", -2, 360).filter("format", "yuv420p"), inp.audio,
                                  str(out / "download.mp4"), vcodec="libx264", preset="veryfast", crf=28,
                                  maxrate="450k", bufsize="900k", acodec="aac", audio_bitrate="64k", ac=1,
                                  movflags="+faststart").overwrite_output().compile(cmd=ffmpeg_exe()))
    inp = ffmpeg.input(str(source), protocol_whitelist="file", ss=1)
    commands.append(ffmpeg.output(inp.video.filter("scale", -2, 720), str(out / "poster.jpg"), vframes=1,
                                  **{"q:v": 4}).overwrite_output().compile(cmd=ffmpeg_exe()))
    return commands


def kbps(files: list[Path], seconds: float) -> float:
    return sum(f.stat().st_size for f in files) * 8 / 1000 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=1, help="repetitions; medians are reported")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-transcode-"))
    try:
        clip = work / "clip720.mp4"
        make_clip(clip, args.seconds)
        info = probe(clip)
        single_times, separate_times = [], []
        for run in range(args.runs):
            out = work / f"single{run}"
            out.mkdir()
            started = time.perf_counter()
            transcode.run(transcode.command(clip, out, info), info.duration)
            single_times.append(time.perf_counter() - started)
            base = work / f"separate{run}"
            base.mkdir()
            started = time.perf_counter()
            for command in separate_runs(clip, base, info):
                subprocess.run(command, check=True, capture_output=True)
            separate_times.append(time.perf_counter() - started)
        single, separate = statistics.median(single_times), statistics.median(separate_times)
        out = work / "single0"
        print(f"ffmpeg: {ffmpeg_exe()}")
        print(f"clip: {info.duration:.1f} s, {info.width}x{info.height}, runs: {args.runs}")
        print(f"single pass (all renditions): {single:.1f} s = {info.duration / single:.2f}x real time")
        print(f"one ffmpeg run per rendition: {separate:.1f} s = {info.duration / separate:.2f}x real time")
        print(f"ratio separate / single: {separate / single:.2f}")
        print("rendition            average kb/s (audio + container included)")
        for i, rung in enumerate(transcode.choose_ladder(info)):
            folder = out / f"v{i}"
            rate = kbps(list(folder.glob("*.m4s")) + list(folder.glob("init*.mp4")), info.duration)
            flag = ("  target <= 250: " + ("OK" if rate <= 250 else "MISSED")) if i == 0 else ""
            print(f"  {rung.height}p (nominal {rung.bandwidth_kbps:>4})    {rate:7.1f}{flag}")
        audio = kbps(list((out / "audio").glob("*.m4s")) + list((out / "audio").glob("init*.mp4")), info.duration)
        print(f"  audio-only (nominal {transcode.AUDIO_ONLY_KBPS})  {audio:7.1f}  target <= 64: {'OK' if audio <= 64 else 'MISSED'}")
        print(f"  download 360p MP4     {kbps([out / 'download.mp4'], info.duration):7.1f}")
        print(f"  poster.jpg            {(out / 'poster.jpg').stat().st_size / 1024:.1f} KB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
