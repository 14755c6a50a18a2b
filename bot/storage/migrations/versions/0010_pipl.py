"""Personal information (PIPL): unanswered questions carry their sender's pseudonym, so that a
citizen's erasure request reaches them (``legal-triage data erase``), and the ones already stored
are scrubbed of phone, ID-card numbers and names (as new ones are when recorded).

Revision ID: 0010
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("unanswered_questions", sa.Column("sender_hash", sa.String(32)))
    op.create_index("ix_unanswered_questions_sender_hash", "unanswered_questions", ["sender_hash"])
    from bot.privacy import scrub

    questions = sa.table("unanswered_questions", sa.column("id", sa.Integer), sa.column("text", sa.Text))
    conn = op.get_bind()
    for row in conn.execute(sa.select(questions.c.id, questions.c.text)).all():
        if (clean := scrub(row.text)) != row.text:
            conn.execute(sa.update(questions).where(questions.c.id == row.id).values(text=clean))


def downgrade() -> None:
    op.drop_index("ix_unanswered_questions_sender_hash", "unanswered_questions")
    with op.batch_alter_table("unanswered_questions") as batch:
        batch.drop_column("sender_hash")
