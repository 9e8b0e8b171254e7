"""written answers graded by people: who grades an exam, attempts awaiting grading, grades per answer

Revision ID: 0018
Revises: 0013
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (no batch copy on SQLite: re-creating ``exam`` would cascade-delete its audience rows).
    op.add_column('exam', sa.Column('graders', sa.String(length=20), nullable=False, server_default='editors'))
    op.add_column('exam', sa.Column('anonymous_grading', sa.Boolean(), nullable=False, server_default=sa.text('true')))
    op.add_column('exam_attempt', sa.Column('awaiting_grading', sa.Boolean(), nullable=False,
                                            server_default=sa.text('false')))
    op.add_column('exam_attempt', sa.Column('integrity', sa.JSON(), nullable=True))
    op.add_column('exam_answer', sa.Column('awarded_points', sa.Numeric(6, 2), nullable=True))
    op.add_column('exam_answer', sa.Column('grader_comment', sa.Text(), nullable=True))
    op.add_column('exam_answer', sa.Column('graded_at', sa.DateTime(), nullable=True))
    op.create_table(
        'exam_regrade',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('question_id', sa.Integer(), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('credits_awarded', sa.Integer(), nullable=False),
        sa.Column('credits_reversed', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_exam_regrade_actor_id_users')),
        sa.ForeignKeyConstraint(['question_id'], ['exam_question.id'], name=op.f('fk_exam_regrade_question_id_exam_question')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_exam_regrade')),
    )
    op.create_index(op.f('ix_exam_regrade_question_id'), 'exam_regrade', ['question_id'], unique=False)
    op.add_column('exam', sa.Column('second_grader_margin', sa.Numeric(6, 2), nullable=True))
    op.create_table(
        'exam_grade',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('answer_id', sa.Integer(), nullable=False),
        sa.Column('grader_id', sa.Integer(), nullable=False),
        sa.Column('points', sa.Numeric(6, 2), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['answer_id'], ['exam_answer.id'], name=op.f('fk_exam_grade_answer_id_exam_answer'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['grader_id'], ['users.id'], name=op.f('fk_exam_grade_grader_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_exam_grade')),
        sa.UniqueConstraint('answer_id', 'grader_id', name=op.f('uq_exam_grade_answer_grader')),
    )
    op.create_index(op.f('ix_exam_grade_answer_id'), 'exam_grade', ['answer_id'], unique=False)
    if op.get_bind().dialect.name == 'sqlite':  # SQLite takes the reference inline with ADD COLUMN
        op.execute("ALTER TABLE exam_answer ADD COLUMN graded_by_id INTEGER "
                   "CONSTRAINT fk_exam_answer_graded_by_id_users REFERENCES users (id)")
    else:
        op.add_column('exam_answer', sa.Column('graded_by_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_exam_answer_graded_by_id_users', 'exam_answer', 'users', ['graded_by_id'], ['id'])


def downgrade():
    op.drop_index(op.f('ix_exam_grade_answer_id'), table_name='exam_grade')
    op.drop_table('exam_grade')
    op.drop_column('exam', 'second_grader_margin')
    op.drop_index(op.f('ix_exam_regrade_question_id'), table_name='exam_regrade')
    op.drop_table('exam_regrade')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot drop a referencing column in place; nothing references exam_answer, so a copy is safe.
        with op.batch_alter_table('exam_answer') as batch:
            batch.drop_column('graded_by_id')
    else:
        op.drop_constraint('fk_exam_answer_graded_by_id_users', 'exam_answer', type_='foreignkey')
        op.drop_column('exam_answer', 'graded_by_id')
    for table, column in (('exam_answer', 'graded_at'), ('exam_answer', 'grader_comment'),
                          ('exam_answer', 'awarded_points'), ('exam_attempt', 'awaiting_grading'),
                          ('exam_attempt', 'integrity'),
                          ('exam', 'anonymous_grading'), ('exam', 'graders')):
        op.drop_column(table, column)  # in place: copying exam / exam_attempt would cascade to their children
