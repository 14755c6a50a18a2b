"""The schema in ``bot.storage.schema`` is what the migrations build: autogenerate proposes nothing."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.storage.schema import metadata


def test_migrations_build_exactly_the_declared_schema(module_engine):
    with module_engine.connect() as connection:
        context = MigrationContext.configure(connection)
        changes = compare_metadata(context, metadata)
    assert changes == []


def test_every_table_is_declared_once():
    expected = {"staff_users", "staff_sessions", "audit_log", "legal_aid_applications", "escalations", "faq_drafts"}
    assert expected <= set(metadata.tables)
