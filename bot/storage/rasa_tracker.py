"""Rasa's SQL tracker store, as far as the personal-information lifecycle needs it.

Rasa (its own venv) owns the ``events`` table of the database ``RASA_TRACKER_URL`` names
(``endpoints.yml``; SQLite under ``data/`` by default, PostgreSQL in a scale-out). We only delete rows
from it: old events when their retention period ends, one citizen's on erasure. Rasa's HTTP API
cannot erase: it has no delete endpoint, and ``PUT /conversations/{id}/tracker/events`` on a SQL
tracker store only appends the events it has not stored yet (``SQLTrackerStore._additional_events``
in Rasa 3.6), so the old ones stay. Rasa reads the table on every message (no cache), so a deletion
takes effect at once.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from pathlib import Path

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, delete, inspect

# Rasa's own table (rasa/core/tracker_store.py, SQLTrackerStore.SQLEvent); not in our schema.
events = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


class RasaTracker:
    def __init__(self, url: str) -> None:
        # Rasa's URL names psycopg2 implicitly; this venv has psycopg 3.
        self._url = "postgresql+psycopg://" + url.split("://", 1)[1] if url.startswith("postgresql://") else url

    def _engine(self):
        """An engine on the tracker database, or None when it does not exist (yet): nothing to delete."""
        if self._url.startswith("sqlite"):
            path = self._url.split("///", 1)[-1]
            if not path or path == ":memory:" or not Path(path).is_file():
                return None
        engine = create_engine(self._url)
        if not inspect(engine).has_table("events"):
            engine.dispose()
            return None
        return engine

    def _delete(self, condition) -> int | None:
        engine = self._engine()
        if engine is None:
            return None
        try:
            with engine.begin() as conn:
                return conn.execute(delete(events).where(condition)).rowcount
        finally:
            engine.dispose()

    def prune(self, before: datetime) -> int | None:
        """Delete events older than ``before``; None when there is no tracker database."""
        return self._delete(events.c.timestamp < before.timestamp())

    def erase(self, sender_ids: Collection[str]) -> int | None:
        """Delete the conversations of these senders; None when there is no tracker database."""
        return self._delete(events.c.sender_id.in_(list(sender_ids)))
