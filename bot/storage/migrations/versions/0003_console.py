"""Staff console: accounts, sessions, the audit log, internal notes on escalations.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("staff_users",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("username", sa.String(64), nullable=False, unique=True),
                    sa.Column("display_name", sa.String(64), nullable=False),
                    sa.Column("role", sa.String(16), nullable=False),
                    sa.Column("password_hash", sa.String(256), nullable=False),
                    sa.Column("active", sa.Boolean, nullable=False),
                    sa.Column("created_at", sa.DateTime, nullable=False))
    op.create_table("staff_sessions",
                    sa.Column("token_hash", sa.String(64), primary_key=True),
                    sa.Column("username", sa.String(64), nullable=False, index=True),
                    sa.Column("csrf", sa.String(64), nullable=False),
                    sa.Column("created_at", sa.DateTime, nullable=False),
                    sa.Column("last_seen", sa.DateTime, nullable=False))
    op.create_table("audit_log",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("at", sa.DateTime, nullable=False, index=True),
                    sa.Column("username", sa.String(64), nullable=False),
                    sa.Column("action", sa.String(32), nullable=False),
                    sa.Column("target", sa.String(128)),
                    sa.Column("detail", sa.Text))


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("staff_sessions")
    op.drop_table("staff_users")
