"""ledger append-only in the database; separation of duties for offline records

- credit_entry: a trigger refuses UPDATE and DELETE (PostgreSQL: a plpgsql function and a
  row trigger; SQLite: two triggers). The statements are a frozen copy of
  ``school.credits.models.APPEND_ONLY_DDL``, which ``create_all`` installs.
- offline_session: who last changed the values (``changed_by_id``, ``changed_at``), and
  changes proposed by someone other than the creator (``proposed*``), waiting in the new
  state ``returned`` for the creator to accept.
- offline_audit: ``changes``, every changed value before and after.

Revision ID: 0010
Revises: 0008 (at merge: 0009, the accounts migration; see the branch's notes)
Create Date: 2026-12-05

"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

MESSAGE = "credit_entry is append-only (学时台账只能追加，更正请写冲正记录)"
TRIGGERS = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION credit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',\n"
        f"        MESSAGE = TG_OP || ' refused, {MESSAGE}';\n"
        "END\n"
        "$$",
        "CREATE TRIGGER credit_entry_append_only BEFORE UPDATE OR DELETE ON credit_entry "
        "FOR EACH ROW EXECUTE FUNCTION credit_entry_append_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER credit_entry_no_update BEFORE UPDATE ON credit_entry "
        f"BEGIN SELECT RAISE(ABORT, 'UPDATE refused, {MESSAGE}'); END",
        "CREATE TRIGGER credit_entry_no_delete BEFORE DELETE ON credit_entry "
        f"BEGIN SELECT RAISE(ABORT, 'DELETE refused, {MESSAGE}'); END",
    ],
}
DROP_TRIGGERS = {
    "postgresql": ["DROP TRIGGER IF EXISTS credit_entry_append_only ON credit_entry",
                   "DROP FUNCTION IF EXISTS credit_entry_append_only()"],
    "sqlite": ["DROP TRIGGER IF EXISTS credit_entry_no_update", "DROP TRIGGER IF EXISTS credit_entry_no_delete"],
}
USER_COLUMNS = ("changed_by_id", "proposed_by_id")


def _dialect() -> str:
    return op.get_bind().dialect.name


def upgrade():
    for statement in TRIGGERS[_dialect()]:
        op.execute(statement)

    # offline_session: plain ADD COLUMN. On SQLite a batch (copy, drop, rename) would drop
    # offline_session with foreign keys on, and the drop cascades to attendees and audit rows.
    for name in USER_COLUMNS:
        if _dialect() == "sqlite":
            op.execute(f"ALTER TABLE offline_session ADD COLUMN {name} INTEGER "
                       f"CONSTRAINT fk_offline_session_{name}_users REFERENCES users (id)")
        else:
            op.add_column('offline_session', sa.Column(name, sa.Integer(), nullable=True))
            op.create_foreign_key(op.f(f'fk_offline_session_{name}_users'), 'offline_session', 'users',
                                  [name], ['id'])
    op.add_column('offline_session', sa.Column('changed_at', sa.DateTime(), nullable=True))
    op.add_column('offline_session', sa.Column('proposed', sa.JSON(), nullable=True))
    op.add_column('offline_session', sa.Column('proposed_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE offline_session SET changed_by_id = created_by_id, changed_at = submitted_at")
    op.add_column('offline_audit', sa.Column('changes', sa.JSON(), nullable=True))


def downgrade():
    conn = op.get_bind()
    # Pending proposals are dropped: the record goes back to the approver as it stands.
    op.execute("UPDATE offline_session SET state = 'submitted' WHERE state = 'returned'")
    op.drop_column('offline_audit', 'changes')
    op.drop_column('offline_session', 'proposed_at')
    op.drop_column('offline_session', 'proposed')
    op.drop_column('offline_session', 'changed_at')
    if _dialect() == "sqlite":
        # SQLite drops a column with a foreign key only by copying the table, and dropping
        # the old copy deletes (ON DELETE CASCADE) its attendees and audit rows: keep them.
        attendees = conn.execute(sa.text("SELECT id, session_id, member_id FROM offline_attendee")).all()
        audits = conn.execute(sa.text(
            "SELECT id, session_id, actor_id, at, action, detail FROM offline_audit")).all()
        with op.batch_alter_table('offline_session', schema=None) as batch_op:
            for name in USER_COLUMNS:
                batch_op.drop_column(name)
        conn.execute(sa.text("DELETE FROM offline_attendee"))
        conn.execute(sa.text("DELETE FROM offline_audit"))
        for row in attendees:
            conn.execute(sa.text("INSERT INTO offline_attendee (id, session_id, member_id) VALUES (:id, :s, :m)"),
                         {"id": row.id, "s": row.session_id, "m": row.member_id})
        for row in audits:
            conn.execute(sa.text("INSERT INTO offline_audit (id, session_id, actor_id, at, action, detail) "
                                 "VALUES (:id, :s, :a, :at, :action, :detail)"),
                         {"id": row.id, "s": row.session_id, "a": row.actor_id, "at": row.at,
                          "action": row.action, "detail": row.detail})
    else:
        for name in USER_COLUMNS:
            op.drop_constraint(op.f(f'fk_offline_session_{name}_users'), 'offline_session', type_='foreignkey')
            op.drop_column('offline_session', name)
    for statement in DROP_TRIGGERS[_dialect()]:
        op.execute(statement)
