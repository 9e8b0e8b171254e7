"""A worker killed with ``kill -9`` in the middle of a transcode: its ffmpeg dies with it, and
the next worker on the host queues the job again at once (the worker recorded on the row is
gone) and finishes it in a work folder of its own."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid

from school import jobs
from school.courses import media, services, transcode
from school.courses.models import Lesson, MediaStatus
from school.extensions import db
from school.timeutil import utcnow
from tests.factories import make_clip
from tests.faults.conftest import REPO, child_env, processes_mentioning, school_cmd, wait_until


def stage(clip):
    uploads = media.media_root() / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    staged = uploads / f"{uuid.uuid4().hex}.part"
    shutil.copyfile(clip, staged)
    return staged


def job_row(job_id):
    db.session.expire_all()
    return db.session.get(jobs.Job, job_id)


def test_kill_9_of_the_worker_kills_ffmpeg_and_the_job_recovers_at_once(app, courses, tmp_path, monkeypatch):
    course = courses.course()
    clip = make_clip(tmp_path / "long.mp4", seconds=40, size="1280x720")
    lesson = services.add_video_lesson(course, "长视频", stage(clip), "long.mp4", utcnow())
    db.session.commit()
    videos = media.media_root() / "videos"
    worker = subprocess.Popen(school_cmd("jobs", "run", "--until-empty"), env=child_env(app),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def mid_transcode():
            job = job_row(lesson.job_id)
            assert worker.poll() is None, "the worker finished before it could be interrupted"
            return job.state == jobs.RUNNING and job.progress > 0
        assert wait_until(mid_transcode, 120), "the job never reported progress"
        assert processes_mentioning(str(videos)), "no ffmpeg is running"
        first_folder = next(videos.glob(f".partial-{lesson.id}-*"))
    finally:
        os.kill(worker.pid, signal.SIGKILL)  # the worker alone, not its process group
        worker.wait()
    try:
        # ffmpeg died with its parent: nothing writes into the work folder any more.
        assert wait_until(lambda: not processes_mentioning(str(videos)), 10), "ffmpeg survived its worker"
    finally:
        for pid in processes_mentioning(str(videos)):  # on failure, clean up what survived
            os.kill(pid, signal.SIGKILL)
    job = job_row(lesson.job_id)
    assert job.state == jobs.RUNNING and job.worker and job.worker.split()[-2] == str(worker.pid)

    # A plain run right after the kill (no --recover, no waiting for the heartbeat to go stale).
    commands = []
    real_run = transcode.run

    def recording_run(args, *rest, **kwargs):
        commands.append(args)
        return real_run(args, *rest, **kwargs)
    monkeypatch.setattr(transcode, "run", recording_run)
    assert jobs.run_until_empty() == [(lesson.job_id, jobs.DONE)]
    job = job_row(lesson.job_id)
    assert job.state == jobs.DONE and job.attempts == 2 and job.progress == 100
    # The recovered attempt worked in a folder of its own; the first attempt's folder is gone.
    assert str(first_folder) not in " ".join(commands[0])
    assert f".partial-{lesson.id}-{lesson.job_id}-2" in " ".join(commands[0])
    assert not first_folder.exists() and not list(videos.glob(".partial-*"))
    lesson = db.session.get(Lesson, lesson.id)
    assert lesson.media_status == MediaStatus.READY and (media.media_dir(lesson) / "master.m3u8").is_file()


def test_a_live_worker_on_this_host_is_not_robbed(app):
    job = jobs.Job(handler="school.jobs:x", payload="{}", state=jobs.RUNNING, attempts=1,
                   heartbeat_at=utcnow(), worker=jobs.worker_identity())
    db.session.add(job)
    db.session.commit()
    assert jobs.requeue_stale(utcnow()) == 0
    assert job_row(job.id).state == jobs.RUNNING
    # The same pid with another start time is another process: the worker is gone.
    host, pid, _started = jobs.worker_identity().rsplit(" ", 2)
    assert jobs.worker_gone(f"{host} {pid} 1") and not jobs.worker_gone(f"other-host {pid} 1")


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_children_die_with_their_parent():
    """school.children: a child (here: ``sleep``) runs in its own process group and dies when
    its parent is killed with SIGKILL."""
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from school import children; "
              "p = children.popen(['sleep', '300']); print(p.pid, flush=True); p.wait()")
    parent = subprocess.Popen([sys.executable, "-c", script, str(REPO)], stdout=subprocess.PIPE)
    child = int(parent.stdout.readline())
    try:
        assert _alive(child) and os.getpgid(child) == child  # a process group of its own
        parent.kill()
        parent.wait()
        assert wait_until(lambda: not _alive(child), 5), "the child survived its parent"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
