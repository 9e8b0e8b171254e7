"""Jobs are never stranded: with Redis down, adding a video says so plainly and changes
nothing; a row queued while Redis went away is handed to RQ once it is back (at worker start
and at every sweep); a node whose media folder does not hold a job's source leaves it queued."""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid

from redis import Redis
from sqlalchemy import func, select

from school import jobs
from school.courses import media, services
from school.courses.models import Lesson, MediaStatus
from school.extensions import db
from school.timeutil import utcnow
from tests.faults.conftest import child_env, school_cmd, wait_until


def stage(clip):
    uploads = media.media_root() / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    staged = uploads / f"{uuid.uuid4().hex}.part"
    shutil.copyfile(clip, staged)
    return staged


def files_under(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_add_video_with_redis_down_says_so_and_changes_nothing(app, runner, courses, clips, own_redis):
    queue = f"school-test-{uuid.uuid4().hex[:8]}"
    app.config.update(REDIS_URL=own_redis.url, RQ_QUEUE=queue)  # configured, never started: unreachable
    courses.course(slug="redis-down")
    result = runner.invoke(args=["courses", "add-video", str(clips["small"]), "--course", "redis-down",
                                 "--title", "第一课"])
    assert result.exit_code != 0
    assert "任务队列（Redis）无法连接" in result.output and "没有排队" in result.output
    assert "Traceback" not in result.output and "已排队" not in result.output
    assert db.session.scalar(select(func.count()).select_from(Lesson)) == 0
    assert db.session.scalar(select(func.count()).select_from(jobs.Job)) == 0
    root = media.media_root()
    assert files_under(root / "uploads") == [] and files_under(root / "sources") == []


def test_job_queued_while_redis_went_away_is_handed_over_when_it_is_back(app, courses, clips, own_redis):
    queue = f"school-test-{uuid.uuid4().hex[:8]}"
    app.config.update(REDIS_URL=own_redis.url, RQ_QUEUE=queue)
    own_redis.start()
    course = courses.course()
    lesson = services.add_video_lesson(course, "课", stage(clips["small"]), "a.mp4", utcnow())
    own_redis.stop()  # Redis goes away between the check and the commit
    db.session.commit()  # the hand-over fails quietly; the row is queued and no queue holds it
    job_id = lesson.job_id
    assert db.session.get(jobs.Job, job_id).state == jobs.QUEUED
    own_redis.start()  # an empty Redis (nothing was saved)
    redis = Redis.from_url(own_redis.url)
    assert redis.llen(f"rq:queue:{queue}") == 0
    # The sweep hands it over, once; a second sweep does not queue it twice.
    jobs.requeue_stale(utcnow())
    jobs.requeue_stale(utcnow())
    assert redis.llen(f"rq:queue:{queue}") == 1
    redis.delete(f"rq:queue:{queue}")  # lost again (say, Redis restarted without its data)
    # A worker that starts hands it over again and runs it.
    env = child_env(app, SCHOOL_REDIS_URL=own_redis.url, SCHOOL_RQ_QUEUE=queue)
    done = subprocess.run(school_cmd("jobs", "rq-worker", "--burst"), env=env, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    db.session.expire_all()
    job = db.session.get(jobs.Job, job_id)
    assert job.state == jobs.DONE, job.error
    assert db.session.get(Lesson, lesson.id).media_status == MediaStatus.READY


def test_upload_finish_with_redis_down_keeps_the_upload(app, client, auth, make, courses, clips, own_redis):
    from school.accounts.models import Role

    app.config.update(REDIS_URL=own_redis.url, RQ_QUEUE=f"school-test-{uuid.uuid4().hex[:8]}")
    course = courses.course()
    auth.login(make.user(role=Role.ADMIN, org=make.org()))
    data = clips["small"].read_bytes()
    started = client.post(f"/courses/manage/{course.id}/uploads",
                          json={"filename": "a.mp4", "size": len(data), "title": "第一课"}).get_json()
    token = started["token"]
    assert client.post(f"/courses/manage/uploads/{token}/chunk?offset=0", data=data, csrf=False,
                       headers={"Content-Type": "application/octet-stream",
                                "X-CSRFToken": client.token()}).status_code == 200
    response = client.post(f"/courses/manage/uploads/{token}/finish", json={})
    assert response.status_code == 503
    message = response.get_json()["error"]
    assert "任务队列（Redis）无法连接" in message and "上传的文件已保留" in message
    assert db.session.scalar(select(func.count()).select_from(Lesson)) == 0
    assert client.get(f"/courses/manage/uploads/{token}").get_json()["received"] == len(data)
    own_redis.start()  # back: the same upload finishes without being sent again
    response = client.post(f"/courses/manage/uploads/{token}/finish", json={})
    assert response.status_code == 200, response.get_json()


def test_a_node_without_the_source_leaves_the_job_alone(app, courses, clips, tmp_path):
    course = courses.course()
    lesson = services.add_video_lesson(course, "课", stage(clips["small"]), "a.mp4", utcnow())
    db.session.commit()
    job_id = lesson.job_id
    assert json.loads(db.session.get(jobs.Job, job_id).payload)["media_id"] == media.media_id()
    own_media = app.config["MEDIA_DIR"]
    app.config["MEDIA_DIR"] = str(tmp_path / "another-node-media")  # a web node with another media folder
    assert jobs.run_until_empty() == []
    db.session.expire_all()
    job = db.session.get(jobs.Job, job_id)
    assert job.state == jobs.QUEUED and job.attempts == 0 and job.error is None
    assert db.session.get(Lesson, lesson.id).media_status == MediaStatus.PROCESSING
    app.config["MEDIA_DIR"] = own_media  # the node that holds the file runs it
    assert jobs.run_until_empty() == [(job_id, jobs.DONE)]


def test_with_the_inprocess_fallback_a_video_added_while_redis_is_down_is_transcoded(app, runner, courses, clips,
                                                                                        own_redis):
    queue = f"school-test-{uuid.uuid4().hex[:8]}"
    app.config.update(REDIS_URL=own_redis.url, RQ_QUEUE=queue, JOBS_FALLBACK="inprocess")  # Redis not started
    courses.course(slug="fallback")
    result = runner.invoke(args=["courses", "add-video", str(clips["small"]), "--course", "fallback",
                                 "--title", "第一课"])
    assert result.exit_code == 0, result.output
    assert "已排队" in result.output and "改由网站进程内的任务线程处理" in result.output
    lesson = db.session.scalar(select(Lesson))
    assert db.session.get(jobs.Job, lesson.job_id).state == jobs.QUEUED
    worker = jobs.InlineWorker.for_app(app)  # what a web process starts on its first request
    try:
        def done():
            db.session.expire_all()
            return db.session.get(jobs.Job, lesson.job_id).state == jobs.DONE
        assert wait_until(done, 120, step=0.5)
    finally:
        worker.stop()
    assert db.session.get(Lesson, lesson.id).media_status == MediaStatus.READY


def test_the_inprocess_fallback_leaves_jobs_to_rq_when_redis_is_up(app, courses, clips, own_redis):
    queue = f"school-test-{uuid.uuid4().hex[:8]}"
    app.config.update(REDIS_URL=own_redis.url, RQ_QUEUE=queue, JOBS_FALLBACK="inprocess")
    course = courses.course()
    lesson = services.add_video_lesson(course, "课", stage(clips["small"]), "a.mp4", utcnow())  # Redis down: queued
    db.session.commit()
    own_redis.start()
    worker = jobs.InlineWorker.for_app(app)
    try:
        redis = Redis.from_url(own_redis.url)
        assert wait_until(lambda: redis.llen(f"rq:queue:{queue}") == 1, 20)  # handed to RQ, not run here
    finally:
        worker.stop()
    db.session.expire_all()
    assert db.session.get(jobs.Job, lesson.job_id).state == jobs.QUEUED


def test_the_fallback_is_used_only_when_configured(app):
    app.config.update(REDIS_URL="redis://127.0.0.1:1/0", JOBS_FALLBACK="")
    assert not jobs.falls_back(app)
    app.config["JOBS_FALLBACK"] = "inprocess"
    assert jobs.falls_back(app)
