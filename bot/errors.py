"""One small exception hierarchy; adapters translate these in exactly one place each."""

from __future__ import annotations


class LegalTriageError(Exception):
    """Base class. ``message`` is safe to show to staff; citizens get a Chinese reply instead."""

    default_message = "legal-triage error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class KnowledgeBaseError(LegalTriageError):
    default_message = "the knowledge base is invalid"


class IndexMismatchError(LegalTriageError):
    default_message = "the index was built with another embedding model; rebuild it (legal-triage kb build)"


class NotFoundError(LegalTriageError):
    default_message = "not found"


class SlotUnavailableError(LegalTriageError):
    default_message = "that mediation slot is no longer available"


class DailyCapReachedError(LegalTriageError):
    default_message = "the daily cap of this client is reached"


class StorageUnavailableError(LegalTriageError):
    default_message = "the database is unavailable or full; nothing was written"


class StatuteIndexStale(LegalTriageError):
    default_message = "the statute index is missing or stale; build it (legal-triage laws build)"
