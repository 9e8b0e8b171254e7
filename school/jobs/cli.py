"""``school jobs …``: run and list background jobs in the foreground."""
from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from school.extensions import db


@click.group("jobs", help="后台任务（视频转码等）。")
def jobs_group():
    pass


@jobs_group.command("run", help="在前台处理排队的任务。加 --until-empty 处理完就退出；否则一直等待新任务（Ctrl+C 停止）。")
@click.option("--until-empty", is_flag=True, help="队列处理完就退出")
@click.option("--recover", is_flag=True, help="确认没有其他进程在处理任务时使用：把所有“处理中”的任务重新排队")
@with_appcontext
def run_jobs(until_empty, recover):
    import time

    from school import jobs
    from school.timeutil import utcnow

    last_periodic: dict = {}
    while True:
        for name in jobs.run_periodic(utcnow(), last_periodic):
            click.echo(f"定时任务：{name}")
        for job_id, state in jobs.run_until_empty(recover_running=recover):
            click.echo(f"任务 {job_id}：{jobs.STATE_LABELS[state]}")
            if state == jobs.FAILED:
                job = db.session.get(jobs.Job, job_id)
                db.session.refresh(job)
                click.echo(f"  原因：{job.error}")
        recover = False
        if until_empty:
            break
        db.session.remove()
        time.sleep(3)


@jobs_group.command("sweep", help="运行一次全部定时任务（超时答卷交卷、清理中断的上传、把中断的任务重新排队）后退出，不处理任务本身。由 systemd 定时器（school-sweep.timer）每分钟运行；多台服务器同时运行时每个任务每个周期只运行一次。")
@with_appcontext
def sweep():
    from school import jobs
    from school.timeutil import utcnow

    now = utcnow()
    if jobs.claim("jobs-requeue-stale", 60, now):  # once a minute across the nodes' timers
        jobs.requeue_stale(now)
    for name in jobs.run_periodic(now, {}):
        click.echo(f"定时任务：{name}")


@jobs_group.command("rq-worker", help="启动 RQ 任务进程（需设置 SCHOOL_REDIS_URL）：先把中断的任务和 Redis 停机时排队的任务重新交给队列，再处理队列。")
@click.option("--burst", is_flag=True, help="队列处理完就退出")
@with_appcontext
def rq_worker(burst):
    from flask import current_app
    from rq import Worker

    from school import jobs
    from school.timeutil import utcnow

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("没有设置 SCHOOL_REDIS_URL；不用 Redis 时请用 school jobs run")
    try:
        jobs.check_queue()
    except jobs.QueueUnavailable as exc:
        raise click.ClickException(str(exc))
    requeued = jobs.requeue_stale(utcnow())  # also hands RQ the queued rows it does not hold
    if requeued:
        click.echo(f"已重新排队 {requeued} 个中断的任务")
    db.session.remove()
    queue = jobs._rq_queue(current_app)
    Worker([queue], connection=queue.connection).work(burst=burst)


@jobs_group.command("list", help="列出最近的任务及其状态。")
@with_appcontext
def list_jobs():
    from school import jobs

    for job in db.session.scalars(select(jobs.Job).order_by(jobs.Job.id.desc()).limit(30)):
        click.echo(f"{job.id:>5}  {job.state_label:<4} {job.progress:>3}%  {job.handler}  {job.error or ''}")


COMMANDS = [jobs_group]
