"""Initial schema: applications, bookings, slots, escalations, reference counters.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("reference_counters",
                    sa.Column("key", sa.String(32), primary_key=True),
                    sa.Column("last", sa.Integer, nullable=False))
    op.create_table("legal_aid_applications",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("reference", sa.String(32), nullable=False, unique=True),
                    sa.Column("sender_id", sa.String(128), nullable=False, index=True),
                    sa.Column("name", sa.String(64), nullable=False),
                    sa.Column("phone", sa.String(32), nullable=False),
                    sa.Column("town", sa.String(64), nullable=False),
                    sa.Column("village", sa.String(64)),
                    sa.Column("matter", sa.String(64), nullable=False),
                    sa.Column("opponent", sa.Text, nullable=False),
                    sa.Column("facts", sa.Text, nullable=False),
                    sa.Column("deadline", sa.Text),
                    sa.Column("economic_status", sa.Text, nullable=False),
                    sa.Column("eligibility_note", sa.Text, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("created_at", sa.DateTime, nullable=False),
                    sa.Column("updated_at", sa.DateTime, nullable=False))
    op.create_table("mediation_bookings",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("reference", sa.String(32), nullable=False, unique=True),
                    sa.Column("sender_id", sa.String(128), nullable=False, index=True),
                    sa.Column("dispute_type", sa.String(64), nullable=False),
                    sa.Column("parties", sa.Text, nullable=False),
                    sa.Column("town", sa.String(64), nullable=False),
                    sa.Column("village", sa.String(64)),
                    sa.Column("facts", sa.Text, nullable=False),
                    sa.Column("name", sa.String(64), nullable=False),
                    sa.Column("phone", sa.String(32), nullable=False),
                    sa.Column("committee_id", sa.String(64), nullable=False),
                    sa.Column("slot_start", sa.DateTime, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("created_at", sa.DateTime, nullable=False),
                    sa.Column("updated_at", sa.DateTime, nullable=False))
    op.create_table("mediation_slots",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("committee_id", sa.String(64), nullable=False),
                    sa.Column("slot_start", sa.DateTime, nullable=False),
                    sa.Column("booked", sa.Integer, nullable=False),
                    sa.UniqueConstraint("committee_id", "slot_start", name="uq_slot"))
    op.create_table("escalations",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("sender_id", sa.String(128), nullable=False, index=True),
                    sa.Column("reason", sa.String(32), nullable=False),
                    sa.Column("priority", sa.Integer, nullable=False),
                    sa.Column("topic", sa.String(32)),
                    sa.Column("town", sa.String(64)),
                    sa.Column("context", sa.Text, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("created_at", sa.DateTime, nullable=False))


def downgrade() -> None:
    for table in ("escalations", "mediation_slots", "mediation_bookings", "legal_aid_applications",
                  "reference_counters"):
        op.drop_table(table)
