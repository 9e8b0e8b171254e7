"""job.worker: "host pid start-time" of the process running a job, so a worker that starts
can tell the jobs of a dead worker on its host and queue them again at once

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-02

(Integrator: re-chain ``down_revision`` onto the last revision of the merged branches.)
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_column('worker')
