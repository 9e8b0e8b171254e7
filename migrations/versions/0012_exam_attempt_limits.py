"""one attempt in progress per member and exam, held by a partial unique index

Revision ID: 0012
Revises: 0008 (other branches add 0009–0011: re-chain when merging)
Create Date: 2026-12-10

Old data may hold two attempts in progress for the same member and exam (the race this
index closes). Before the index is created they are cleaned deterministically: per
(exam, member) the open attempt with the highest number stays open (the one the member is
most likely working in); every other open one is closed as finished at its last save (or
its start), ``finish_reason='superseded'``, with score 0 of 0 and not passed — it was never
handed in, so it is not graded and awards nothing. The downgrade only drops the index.
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, exam_id, member_id FROM exam_attempt WHERE state = 'in_progress' "
        "ORDER BY exam_id, member_id, number DESC, id DESC")).all()
    kept, extra = set(), []
    for attempt_id, exam_id, member_id in rows:
        if (exam_id, member_id) in kept:
            extra.append(attempt_id)
        else:
            kept.add((exam_id, member_id))
    for attempt_id in extra:
        conn.execute(sa.text(
            "UPDATE exam_attempt SET state = 'finished', finish_reason = 'superseded', "
            "finished_at = COALESCE(last_saved_at, started_at), score = 0, max_score = 0, passed = :no "
            "WHERE id = :id"), {"id": attempt_id, "no": False})
    op.create_index('uq_exam_attempt_one_open', 'exam_attempt', ['exam_id', 'member_id'], unique=True,
                    sqlite_where=sa.text("state = 'in_progress'"), postgresql_where=sa.text("state = 'in_progress'"))


def downgrade():
    op.drop_index('uq_exam_attempt_one_open', table_name='exam_attempt')
