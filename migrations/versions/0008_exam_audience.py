"""exam audience stored like a course's: an association table and a category string

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value or "[]")
    return list(value or [])


def upgrade():
    op.create_table('exam_audience_org',
    sa.Column('exam_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['exam_id'], ['exam.id'], name=op.f('fk_exam_audience_org_exam_id_exam'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_exam_audience_org_org_id_organisation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('exam_id', 'org_id', name=op.f('pk_exam_audience_org'))
    )
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, audience_org_ids, audience_categories FROM exam")).all()
    existing = {row[0] for row in conn.execute(sa.text("SELECT id FROM organisation"))}
    with op.batch_alter_table('exam', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience_categories_new', sa.String(length=200), nullable=False,
                                      server_default=''))
    for exam_id, _org_ids, categories in rows:
        conn.execute(sa.text("UPDATE exam SET audience_categories_new = :c WHERE id = :e"),
                     {"c": ",".join(sorted(set(_as_list(categories)))), "e": exam_id})
    with op.batch_alter_table('exam', schema=None) as batch_op:
        batch_op.drop_column('audience_org_ids')
        batch_op.drop_column('audience_categories')
    with op.batch_alter_table('exam', schema=None) as batch_op:
        batch_op.alter_column('audience_categories_new', new_column_name='audience_categories',
                              server_default=None, existing_type=sa.String(length=200), existing_nullable=False)
    # Only now: on SQLite the batch operations above copy and drop ``exam``, and dropping it
    # would cascade to rows already in the association table.
    for exam_id, org_ids, _categories in rows:
        for org_id in sorted(set(_as_list(org_ids)) & existing):
            conn.execute(sa.text("INSERT INTO exam_audience_org (exam_id, org_id) VALUES (:e, :o)"),
                         {"e": exam_id, "o": org_id})


def downgrade():
    conn = op.get_bind()
    orgs = {}
    for exam_id, org_id in conn.execute(sa.text("SELECT exam_id, org_id FROM exam_audience_org")):
        orgs.setdefault(exam_id, []).append(org_id)
    rows = conn.execute(sa.text("SELECT id, audience_categories FROM exam")).all()
    with op.batch_alter_table('exam', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience_org_ids', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('audience_categories_old', sa.JSON(), nullable=True))
    for exam_id, categories in rows:
        conn.execute(sa.text("UPDATE exam SET audience_org_ids = :o, audience_categories_old = :c WHERE id = :e"),
                     {"o": json.dumps(sorted(orgs.get(exam_id, []))),
                      "c": json.dumps([c for c in (categories or "").split(",") if c]), "e": exam_id})
    with op.batch_alter_table('exam', schema=None) as batch_op:
        batch_op.drop_column('audience_categories')
    with op.batch_alter_table('exam', schema=None) as batch_op:
        batch_op.alter_column('audience_categories_old', new_column_name='audience_categories',
                              existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('audience_org_ids', existing_type=sa.JSON(), nullable=False)
    op.drop_table('exam_audience_org')
