"""Daily caps on legal-aid applications, mediation bookings and requests for a person, per phone
and per client (bot/services/caps.py): the uses counted, by pseudonym.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cap_uses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_cap_uses_key_kind_at", "cap_uses", ["key", "kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_cap_uses_key_kind_at", "cap_uses")
    op.drop_table("cap_uses")
