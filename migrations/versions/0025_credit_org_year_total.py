"""credit_org_year_total: the report's figures per organisation and study year, marked stale by triggers

- credit_org_year_total (org_id, year) → members, hours, met, floating, floating_met, b0…b5:
  the rows of ``reports._org_statements`` per organisation, kept.
- credit_org_year_state (year) → fingerprint: the years built, and with which requirement.
- credit_org_stale (id, org_id, year): marks; row triggers on credit_year_summary, users and
  organisation insert them (PostgreSQL: plpgsql functions; SQLite: triggers). The statements
  are a frozen copy of ``school.credits.models.ORG_TOTALS_DDL``, which ``create_all`` installs.
- Nothing is filled: a year without a state row is built by its first report.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

_SQLITE_MARK = ("INSERT INTO credit_org_stale (org_id, year) SELECT {org}, {year} WHERE {org} IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM credit_org_stale WHERE org_id = {org} AND year IS {year}); ")
_SQLITE_SUMMARY_MARK = ("INSERT INTO credit_org_stale (org_id, year) SELECT u.org_id, {row}.year FROM users u "
                        "WHERE u.id = {row}.member_id AND u.org_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                        "credit_org_stale s WHERE s.org_id = u.org_id AND s.year = {row}.year); ")
_MEMBER_CHANGED = ("OLD.org_id IS DISTINCT FROM NEW.org_id OR OLD.active IS DISTINCT FROM NEW.active "
                   "OR OLD.category IS DISTINCT FROM NEW.category OR OLD.is_floating IS DISTINCT FROM NEW.is_floating")
TRIGGERS = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION credit_org_stale_summary() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    IF TG_OP = 'DELETE' THEN\n"
        "        INSERT INTO credit_org_stale (org_id, year)\n"
        "        SELECT u.org_id, OLD.year FROM users u WHERE u.id = OLD.member_id AND u.org_id IS NOT NULL;\n"
        "    ELSE\n"
        "        INSERT INTO credit_org_stale (org_id, year)\n"
        "        SELECT u.org_id, NEW.year FROM users u WHERE u.id = NEW.member_id AND u.org_id IS NOT NULL;\n"
        "    END IF;\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$",
        "CREATE TRIGGER credit_org_stale_summary AFTER INSERT OR UPDATE OR DELETE ON credit_year_summary "
        "FOR EACH ROW EXECUTE FUNCTION credit_org_stale_summary()",
        "CREATE OR REPLACE FUNCTION credit_org_stale_member() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.org_id IS NOT NULL THEN\n"
        "        INSERT INTO credit_org_stale (org_id, year) VALUES (OLD.org_id, NULL);\n"
        "    END IF;\n"
        "    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.org_id IS NOT NULL THEN\n"
        "        IF TG_OP = 'INSERT' OR NEW.org_id IS DISTINCT FROM OLD.org_id THEN\n"
        "            INSERT INTO credit_org_stale (org_id, year) VALUES (NEW.org_id, NULL);\n"
        "        END IF;\n"
        "    END IF;\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$",
        "CREATE TRIGGER credit_org_stale_member AFTER INSERT OR DELETE ON users "
        "FOR EACH ROW EXECUTE FUNCTION credit_org_stale_member()",
        "CREATE TRIGGER credit_org_stale_member_update AFTER UPDATE OF org_id, active, category, is_floating "
        f"ON users FOR EACH ROW WHEN ({_MEMBER_CHANGED}) EXECUTE FUNCTION credit_org_stale_member()",
        "CREATE OR REPLACE FUNCTION credit_org_stale_org() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    INSERT INTO credit_org_stale (org_id, year)\n"
        "    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, NULL);\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$",
        "CREATE TRIGGER credit_org_stale_org AFTER INSERT OR DELETE ON organisation "
        "FOR EACH ROW EXECUTE FUNCTION credit_org_stale_org()",
    ],
    "sqlite": [
        "CREATE TRIGGER credit_org_stale_summary_insert AFTER INSERT ON credit_year_summary BEGIN "
        + _SQLITE_SUMMARY_MARK.format(row="NEW") + "END",
        "CREATE TRIGGER credit_org_stale_summary_update AFTER UPDATE ON credit_year_summary BEGIN "
        + _SQLITE_SUMMARY_MARK.format(row="NEW") + "END",
        "CREATE TRIGGER credit_org_stale_summary_delete AFTER DELETE ON credit_year_summary BEGIN "
        + _SQLITE_SUMMARY_MARK.format(row="OLD") + "END",
        "CREATE TRIGGER credit_org_stale_member_insert AFTER INSERT ON users BEGIN "
        + _SQLITE_MARK.format(org="NEW.org_id", year="NULL") + "END",
        "CREATE TRIGGER credit_org_stale_member_delete AFTER DELETE ON users BEGIN "
        + _SQLITE_MARK.format(org="OLD.org_id", year="NULL") + "END",
        "CREATE TRIGGER credit_org_stale_member_update AFTER UPDATE OF org_id, active, category, is_floating "
        f"ON users WHEN {_MEMBER_CHANGED.replace('IS DISTINCT FROM', 'IS NOT')} BEGIN "
        + _SQLITE_MARK.format(org="OLD.org_id", year="NULL") + _SQLITE_MARK.format(org="NEW.org_id", year="NULL")
        + "END",
        "CREATE TRIGGER credit_org_stale_org_insert AFTER INSERT ON organisation BEGIN "
        + _SQLITE_MARK.format(org="NEW.id", year="NULL") + "END",
        "CREATE TRIGGER credit_org_stale_org_delete AFTER DELETE ON organisation BEGIN "
        + _SQLITE_MARK.format(org="OLD.id", year="NULL") + "END",
    ],
}
DROP_TRIGGERS = {
    "postgresql": ["DROP TRIGGER IF EXISTS credit_org_stale_summary ON credit_year_summary",
                   "DROP TRIGGER IF EXISTS credit_org_stale_member ON users",
                   "DROP TRIGGER IF EXISTS credit_org_stale_member_update ON users",
                   "DROP TRIGGER IF EXISTS credit_org_stale_org ON organisation",
                   "DROP FUNCTION IF EXISTS credit_org_stale_summary()",
                   "DROP FUNCTION IF EXISTS credit_org_stale_member()",
                   "DROP FUNCTION IF EXISTS credit_org_stale_org()"],
    "sqlite": [f"DROP TRIGGER IF EXISTS credit_org_stale_{name}" for name in (
        "summary_insert", "summary_update", "summary_delete", "member_insert", "member_delete", "member_update",
        "org_insert", "org_delete")],
}


def upgrade():
    op.create_table(
        'credit_org_year_total',
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('members', sa.Integer(), nullable=False),
        sa.Column('hours', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column('met', sa.Integer(), nullable=False),
        sa.Column('floating', sa.Integer(), nullable=False),
        sa.Column('floating_met', sa.Integer(), nullable=False),
        *[sa.Column(f'b{i}', sa.Integer(), nullable=False) for i in range(6)],
        sa.PrimaryKeyConstraint('org_id', 'year', name=op.f('pk_credit_org_year_total')),
    )
    op.create_table(
        'credit_org_year_state',
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('built_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('year', name=op.f('pk_credit_org_year_state')),
    )
    op.create_table(
        'credit_org_stale',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_org_stale')),
    )
    op.create_index('ix_credit_org_stale_year_org', 'credit_org_stale', ['year', 'org_id'], unique=False)
    for statement in TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade():
    for statement in DROP_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_index('ix_credit_org_stale_year_org', table_name='credit_org_stale')
    op.drop_table('credit_org_stale')
    op.drop_table('credit_org_year_state')
    op.drop_table('credit_org_year_total')
