"""Mediators work for particular committees: which ones, on their account.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("committees", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("committees")
