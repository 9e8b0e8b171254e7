"""school/jobs.py: state in the database, an interrupted job runs again after a restart, and
with Redis a job runs in a separate RQ worker process."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from school import jobs
from school.courses import media, services
from school.courses.models import Lesson, MediaStatus
from school.extensions import db
from school.timeutil import utcnow
from tests.factories import make_clip

# The course fixtures, found by pytest under these names in this module.

REDIS_URL = os.environ.get("SCHOOL_TEST_REDIS_URL", "")


def child_env(app) -> dict:
    env = dict(os.environ)
    env.update(SCHOOL_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], SCHOOL_MEDIA_DIR=app.config["MEDIA_DIR"],
               SCHOOL_INSTANCE_PATH=app.config["INSTANCE_PATH"], SCHOOL_SECRET_KEY="test-secret")
    env.pop("SCHOOL_REDIS_URL", None)
    return env


def school_bin() -> str:
    return str(Path(sys.executable).with_name("school"))


def stage(clip: Path) -> Path:
    uploads = media.media_root() / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    staged = uploads / f"{uuid.uuid4().hex}.part"
    shutil.copyfile(clip, staged)
    return staged


def job_row(job_id):
    db.session.expire_all()
    return db.session.get(jobs.Job, job_id)


def test_failed_handler_records_reason_and_retry_requeues(app, courses, clips):
    course = courses.course()
    lesson = services.add_video_lesson(course, "课", stage(clips["small"]), "a.mp4", utcnow())
    db.session.commit()
    (media.media_root() / lesson.source_path).unlink()  # the stored upload vanished
    assert jobs.run_until_empty() == [(lesson.job_id, jobs.FAILED)]
    job = job_row(lesson.job_id)
    assert job.state == jobs.FAILED and "找不到上传的原始文件" in job.error
    assert db.session.get(Lesson, lesson.id).media_status == MediaStatus.FAILED
    jobs.retry(job, utcnow())
    db.session.commit()
    assert job_row(lesson.job_id).state == jobs.QUEUED


def test_interrupted_job_runs_again_after_restart(app, courses, tmp_path):
    course = courses.course()
    clip = make_clip(tmp_path / "long.mp4", seconds=40, size="1280x720")
    lesson = services.add_video_lesson(course, "长视频", stage(clip), "long.mp4", utcnow())
    db.session.commit()
    worker = subprocess.Popen([school_bin(), "jobs", "run", "--until-empty"], env=child_env(app),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = job_row(lesson.job_id)
            if job.state == jobs.RUNNING and job.progress > 0:
                break
            assert worker.poll() is None, "the worker finished before it could be interrupted"
            time.sleep(0.1)
        else:
            pytest.fail("the job never reported progress")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the machine dies: worker and ffmpeg alike
        worker.wait()
    job = job_row(lesson.job_id)
    assert job.state == jobs.RUNNING and 0 < job.progress < 100
    assert list((media.media_root() / "videos").glob(f".partial-{lesson.id}-*"))  # the attempt's own folder
    # Had the worker run on another host, the job would still look alive right after the crash
    # (a dead worker on this host is noticed at once: tests/faults/test_worker_killed.py).
    job.worker = "another-host 4242 1"
    db.session.commit()
    assert jobs.run_until_empty(now=utcnow()) == []
    # After a restart, once its heartbeat is stale, it is queued again and completes.
    assert jobs.run_until_empty(now=utcnow() + jobs.STALE_AFTER + timedelta(seconds=5)) == [(lesson.job_id, jobs.DONE)]
    job = job_row(lesson.job_id)
    assert job.state == jobs.DONE and job.progress == 100 and job.attempts == 2
    lesson = db.session.get(Lesson, lesson.id)
    assert lesson.media_status == MediaStatus.READY
    assert not list((media.media_root() / "videos").glob(f".partial-{lesson.id}*"))
    assert (media.media_dir(lesson) / "master.m3u8").is_file()


def test_cli_jobs_run_until_empty(app, runner, courses, clips):
    courses.course(slug="cli-jobs")
    result = runner.invoke(args=["courses", "add-video", str(clips["small"]), "--course", "cli-jobs", "--title", "第一课"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["jobs", "run", "--until-empty"])
    assert result.exit_code == 0 and "已完成" in result.output
    db.session.expire_all()
    assert db.session.query(Lesson).one().media_status == MediaStatus.READY


@pytest.mark.skipif(not REDIS_URL, reason="需要 Redis：设置 SCHOOL_TEST_REDIS_URL（例如 redis://127.0.0.1:6379/5）后运行")
def test_job_runs_in_a_separate_rq_worker_process(app, courses, clips):
    from redis import Redis

    queue = f"school-test-{uuid.uuid4().hex[:8]}"
    app.config.update(REDIS_URL=REDIS_URL, RQ_QUEUE=queue)
    try:
        Redis.from_url(REDIS_URL).ping()
    except Exception as exc:  # configured but not running
        pytest.skip(f"Redis 不可用：{exc}")
    course = courses.course()
    lesson = services.add_video_lesson(course, "课", stage(clips["small"]), "a.mp4", utcnow())
    db.session.commit()  # the commit hands the job to RQ
    assert Redis.from_url(REDIS_URL).llen(f"rq:queue:{queue}") == 1
    rq = str(Path(sys.executable).with_name("rq"))
    done = subprocess.run([rq, "worker", "--burst", "--url", REDIS_URL, queue], env=child_env(app),
                          capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    job = job_row(lesson.job_id)
    assert job.state == jobs.DONE, job.error
    assert db.session.get(Lesson, lesson.id).media_status == MediaStatus.READY


def test_a_job_is_claimed_once(app, courses, clips):
    course = courses.course()
    lesson = services.add_video_lesson(course, "课", stage(clips["small"]), "a.mp4", utcnow())
    db.session.commit()
    assert jobs.run_job(lesson.job_id) == jobs.DONE
    assert jobs.run_job(lesson.job_id) is None  # already done: a second runner does nothing
    assert job_row(lesson.job_id).attempts == 1


def test_inline_worker_of_the_web_process_runs_queued_jobs(tmp_path, clips):
    """Without Redis the serving app's first request starts the in-process worker, which resumes
    queued work (here: a job left queued before a restart)."""
    from school import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'inline.db'}", "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "instance"), "MEDIA_DIR": str(tmp_path / "media")})
    assert app.config["JOBS_INLINE_WORKER"]
    with app.app_context():
        db.create_all()
        course = services.save_course(services.CourseData(title="课", slug="inline"), None, utcnow())
        lesson = services.add_video_lesson(course, "课", stage(clips["small"]), "a.mp4", utcnow())
        db.session.commit()
        job_id = lesson.job_id
        db.session.remove()
    try:
        app.test_client().get("/healthz")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with app.app_context():
                state = db.session.get(jobs.Job, job_id).state
                db.session.remove()
            if state == jobs.DONE:
                break
            time.sleep(0.2)
        assert state == jobs.DONE
    finally:
        worker = jobs.InlineWorker._workers.get(id(app))
        if worker is not None:
            worker.stop()
        with app.app_context():
            db.engine.dispose()


def test_a_row_naming_the_old_handler_path_still_runs(app, courses, clips):
    """Rows queued before the transcode job moved to ``courses.transcode_job`` name it in ``courses.services``."""
    from school.courses.transcode_job import TRANSCODE_HANDLER, transcode_job

    assert jobs._resolve(TRANSCODE_HANDLER) is transcode_job
    course = courses.course()
    lesson = services.add_video_lesson(course, "课", stage(clips["small"]), "a.mp4", utcnow())
    db.session.get(jobs.Job, lesson.job_id).handler = "school.courses.services:transcode_job"
    db.session.commit()
    assert jobs.run_until_empty() == [(lesson.job_id, jobs.DONE)]
    assert db.session.get(Lesson, lesson.id).media_status == MediaStatus.READY
