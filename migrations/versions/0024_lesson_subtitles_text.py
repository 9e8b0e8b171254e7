"""lesson.subtitles_text: a video lesson's subtitle words, kept for /search

Filled from the subtitle files already under the media folder (``MEDIA_DIR``/subtitles), read
with a frozen copy of the cue filter of ``school.courses.subtitles`` (traditional characters
are converted when a file is uploaded again; search still finds simplified words). A file that is
missing or unreadable leaves the column empty: the lesson is then not found by its subtitles
until they are uploaded again, as the file is gone anyway.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03
"""
import re
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

MAX_CHARS = 200_000


def _words(vtt: str) -> str:
    lines = (line.strip() for line in vtt.splitlines())
    words = [re.sub(r"<[^>]+>", "", line) for line in lines
             if line and "-->" not in line and not line.isdigit() and not line.startswith(("WEBVTT", "NOTE"))]
    return " ".join(words)[:MAX_CHARS]


def _media_root():
    try:
        from flask import current_app
        return Path(current_app.config["MEDIA_DIR"])
    except (RuntimeError, KeyError):  # alembic run without the app: nothing to read
        return None


def upgrade():
    op.add_column('lesson', sa.Column('subtitles_text', sa.Text(), nullable=True))
    root = _media_root()
    if root is None:
        return
    bind = op.get_bind()
    lesson = sa.table('lesson', sa.column('id', sa.Integer), sa.column('subtitles_name', sa.String),
                      sa.column('subtitles_text', sa.Text))
    rows = bind.execute(sa.select(lesson.c.id, lesson.c.subtitles_name)
                        .where(lesson.c.subtitles_name.is_not(None))).all()
    for lesson_id, name in rows:
        try:
            text = (root / "subtitles" / name).read_bytes()[:2 * 1024 * 1024].decode("utf-8-sig", "replace")
        except OSError:
            continue
        bind.execute(lesson.update().where(lesson.c.id == lesson_id).values(subtitles_text=_words(text)))


def downgrade():
    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.drop_column('subtitles_text')
