"""Console data: what was asked (for statistics and the unanswered-questions page), FAQ drafts,
case status history, mediation schedules managed in the console.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("consultations",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("at", sa.DateTime, nullable=False, index=True),
                    sa.Column("sender_hash", sa.String(32), nullable=False),
                    sa.Column("channel", sa.String(8), nullable=False),
                    sa.Column("topic", sa.String(32)),
                    sa.Column("town", sa.String(64)),
                    sa.Column("kind", sa.String(16), nullable=False),
                    sa.Column("faq_id", sa.String(96)),
                    sa.Column("score", sa.Float))
    op.create_table("unanswered_questions",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("at", sa.DateTime, nullable=False, index=True),
                    sa.Column("channel", sa.String(8), nullable=False),
                    sa.Column("text", sa.Text, nullable=False),
                    sa.Column("topic", sa.String(32)),
                    sa.Column("reason", sa.String(16), nullable=False),
                    sa.Column("resolved_faq_id", sa.String(96)))
    op.create_table("faq_drafts",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("entry_id", sa.String(96), nullable=False, index=True),
                    sa.Column("data", sa.Text, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("author", sa.String(64), nullable=False),
                    sa.Column("reviewer", sa.String(64)),
                    sa.Column("note", sa.Text),
                    sa.Column("created_at", sa.DateTime, nullable=False),
                    sa.Column("updated_at", sa.DateTime, nullable=False))
    op.create_table("case_events",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("reference", sa.String(32), nullable=False, index=True),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("reason", sa.Text),
                    sa.Column("by", sa.String(64), nullable=False),
                    sa.Column("at", sa.DateTime, nullable=False))
    op.create_table("committee_schedules",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("committee_id", sa.String(64), nullable=False, index=True),
                    sa.Column("weekday", sa.Integer, nullable=False),
                    sa.Column("time", sa.String(5), nullable=False),
                    sa.Column("capacity", sa.Integer, nullable=False),
                    sa.UniqueConstraint("committee_id", "weekday", "time", name="uq_committee_slot"))


def downgrade() -> None:
    for table in ("committee_schedules", "case_events", "faq_drafts", "unanswered_questions", "consultations"):
        op.drop_table(table)
