"""Human handoff: who has an escalation and when the citizen was told; its transcript; the web outbox.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("assignee", sa.String(64)))
        batch.add_column(sa.Column("claimed_at", sa.DateTime))
        batch.add_column(sa.Column("closed_at", sa.DateTime))
        batch.add_column(sa.Column("notified_at", sa.DateTime))
        batch.add_column(sa.Column("overdue_notified_at", sa.DateTime))
        batch.create_index("ix_escalations_status", ["status"])
    op.create_table("conversation_messages",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("escalation_id", sa.Integer, sa.ForeignKey("escalations.id"), nullable=False,
                              index=True),
                    sa.Column("author", sa.String(16), nullable=False),
                    sa.Column("staff", sa.String(64)),
                    sa.Column("text", sa.Text, nullable=False),
                    sa.Column("created_at", sa.DateTime, nullable=False))
    op.create_table("web_outbox",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("sender_id", sa.String(128), nullable=False, index=True),
                    sa.Column("message", sa.Text, nullable=False),
                    sa.Column("created_at", sa.DateTime, nullable=False))


def downgrade() -> None:
    op.drop_table("web_outbox")
    op.drop_table("conversation_messages")
    with op.batch_alter_table("escalations") as batch:
        batch.drop_index("ix_escalations_status")
        for column in ("overdue_notified_at", "notified_at", "closed_at", "claimed_at", "assignee"):
            batch.drop_column(column)
