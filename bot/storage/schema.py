"""The one schema: every table of ours, for the SQL adapters and for Alembic's ``target_metadata``.

Tables are created and changed only by the migrations in ``bot/storage/migrations``;
``tests/unit/storage/test_schema.py`` checks that autogenerate finds nothing to change.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

counters = Table(
    "reference_counters",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("last", Integer, nullable=False),
)

applications = Table(
    "legal_aid_applications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reference", String(32), nullable=False, unique=True),
    Column("sender_id", String(128), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("phone", String(32), nullable=False),
    Column("town", String(64), nullable=False),
    Column("village", String(64)),
    Column("matter", String(64), nullable=False),
    Column("opponent", Text, nullable=False),
    Column("facts", Text, nullable=False),
    Column("deadline", Text),
    Column("economic_status", Text, nullable=False),
    Column("eligibility_note", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

bookings = Table(
    "mediation_bookings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reference", String(32), nullable=False, unique=True),
    Column("sender_id", String(128), nullable=False, index=True),
    Column("dispute_type", String(64), nullable=False),
    Column("parties", Text, nullable=False),
    Column("town", String(64), nullable=False),
    Column("village", String(64)),
    Column("facts", Text, nullable=False),
    Column("name", String(64), nullable=False),
    Column("phone", String(32), nullable=False),
    Column("committee_id", String(64), nullable=False),
    Column("slot_start", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

slots = Table(
    "mediation_slots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("committee_id", String(64), nullable=False),
    Column("slot_start", DateTime, nullable=False),
    Column("booked", Integer, nullable=False),
    UniqueConstraint("committee_id", "slot_start", name="uq_slot"),
)

escalations = Table(
    "escalations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender_id", String(128), nullable=False, index=True),
    Column("reason", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("topic", String(32)),
    Column("town", String(64)),
    Column("context", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
    Column("assignee", String(64)),
    Column("claimed_at", DateTime),
    Column("closed_at", DateTime),
    Column("notified_at", DateTime),
    Column("overdue_notified_at", DateTime),
)

conversation_messages = Table(
    "conversation_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("escalation_id", Integer, ForeignKey("escalations.id"), nullable=False, index=True),
    Column("author", String(16), nullable=False),
    Column("staff", String(64)),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

web_outbox = Table(
    "web_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender_id", String(128), nullable=False, index=True),
    Column("message", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

consultations = Table(
    "consultations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("sender_hash", String(32), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("topic", String(32)),
    Column("town", String(64)),
    Column("kind", String(16), nullable=False),
    Column("faq_id", String(96)),
    Column("score", Float),
)

unanswered_questions = Table(
    "unanswered_questions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("channel", String(8), nullable=False),
    Column("text", Text, nullable=False),
    Column("topic", String(32)),
    Column("reason", String(16), nullable=False),
    Column("resolved_faq_id", String(96)),
    Column("sender_hash", String(32), index=True),  # the pseudonym: erasure on request reaches the row
)

case_events = Table(
    "case_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reference", String(32), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("by", String(64), nullable=False),
    Column("at", DateTime, nullable=False),
)

faq_drafts = Table(
    "faq_drafts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", String(96), nullable=False, index=True),
    Column("data", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("author", String(64), nullable=False),
    Column("reviewer", String(64)),
    Column("note", Text),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

committee_schedules = Table(
    "committee_schedules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("committee_id", String(64), nullable=False, index=True),
    Column("weekday", Integer, nullable=False),
    Column("time", String(5), nullable=False),
    Column("capacity", Integer, nullable=False),
    UniqueConstraint("committee_id", "weekday", "time", name="uq_committee_slot"),
)

#: Webhook deliveries already handled (Telegram update ids, WeChat MsgIds): a redelivery after a
#: crash or a retry is answered once. Rows older than ``DELIVERY_MEMORY`` are pruned.
inbound_deliveries = Table(
    "inbound_deliveries",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("at", DateTime, nullable=False, index=True),
)


#: Uses of the daily caps (bot/services/caps.py): one row per capped key (a phone's or a client's
#: pseudonym, never the number or address) for each legal-aid application, mediation booking or
#: request for a person. Rows older than ``CAP_MEMORY`` are pruned.
cap_uses = Table(
    "cap_uses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("at", DateTime, nullable=False),
    Index("ix_cap_uses_key_kind_at", "key", "kind", "at"),
)

# ---- staff: accounts, sessions, the audit log -------------------------------------------------
users = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("committees", Text),  # mediators: the committee ids they work for, comma-separated
)
sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
)
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("username", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(128)),
    Column("detail", Text),
)
