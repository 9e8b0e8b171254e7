"""credit_year_summary: the ledger summed per member and study year, kept by a trigger

- credit_year_summary (member_id, year) → online, concentrated, entries.
- A row trigger on INSERT into credit_entry adds each new row to it in the same statement
  (PostgreSQL: a plpgsql function; SQLite: a trigger). The statements are a frozen copy of
  ``school.credits.models.SUMMARY_DDL``, which ``create_all`` installs.
- Filled from the ledger. Creating the trigger locks credit_entry against writes until this
  transaction commits (PostgreSQL: SHARE ROW EXCLUSIVE; SQLite: the write lock), so no award
  can fall between the fill and the trigger.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

TRIGGERS = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION credit_year_summary_add() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    INSERT INTO credit_year_summary (member_id, year, online, concentrated, entries)\n"
        "    VALUES (NEW.member_id, NEW.year,\n"
        "            CASE WHEN NEW.kind = 'online' THEN NEW.hours ELSE 0 END,\n"
        "            CASE WHEN NEW.kind = 'concentrated' THEN NEW.hours ELSE 0 END, 1)\n"
        "    ON CONFLICT (member_id, year) DO UPDATE SET\n"
        "        online = credit_year_summary.online + excluded.online,\n"
        "        concentrated = credit_year_summary.concentrated + excluded.concentrated,\n"
        "        entries = credit_year_summary.entries + 1;\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$",
        "CREATE TRIGGER credit_year_summary_add AFTER INSERT ON credit_entry "
        "FOR EACH ROW EXECUTE FUNCTION credit_year_summary_add()",
    ],
    "sqlite": [
        "CREATE TRIGGER credit_year_summary_add AFTER INSERT ON credit_entry BEGIN "
        "INSERT INTO credit_year_summary (member_id, year, online, concentrated, entries) "
        "VALUES (NEW.member_id, NEW.year, "
        "CASE WHEN NEW.kind = 'online' THEN NEW.hours ELSE 0 END, "
        "CASE WHEN NEW.kind = 'concentrated' THEN NEW.hours ELSE 0 END, 1) "
        "ON CONFLICT (member_id, year) DO UPDATE SET "
        "online = round(online + excluded.online, 2), "
        "concentrated = round(concentrated + excluded.concentrated, 2), "
        "entries = entries + 1; END",
    ],
}
DROP_TRIGGERS = {
    "postgresql": ["DROP TRIGGER IF EXISTS credit_year_summary_add ON credit_entry",
                   "DROP FUNCTION IF EXISTS credit_year_summary_add()"],
    "sqlite": ["DROP TRIGGER IF EXISTS credit_year_summary_add"],
}
FILL = (
    "INSERT INTO credit_year_summary (member_id, year, online, concentrated, entries) "
    "SELECT member_id, year, "
    "round(sum(CASE WHEN kind = 'online' THEN hours ELSE 0 END), 2), "
    "round(sum(CASE WHEN kind = 'concentrated' THEN hours ELSE 0 END), 2), count(*) "
    "FROM credit_entry GROUP BY member_id, year"
)


def upgrade():
    op.create_table(
        'credit_year_summary',
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('online', sa.Numeric(precision=10, scale=2), server_default='0', nullable=False),
        sa.Column('concentrated', sa.Numeric(precision=10, scale=2), server_default='0', nullable=False),
        sa.Column('entries', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['users.id'], name=op.f('fk_credit_year_summary_member_id_users')),
        sa.PrimaryKeyConstraint('member_id', 'year', name=op.f('pk_credit_year_summary')),
    )
    for statement in TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    op.execute(FILL)


def downgrade():
    for statement in DROP_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_table('credit_year_summary')
