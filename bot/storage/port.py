"""The case-store port."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from datetime import date, datetime, timedelta
from typing import Protocol

from bot.domain import (
    Consultation,
    ConversationMessage,
    Escalation,
    LegalAidApplication,
    MediationBooking,
    RetentionCutoffs,
    UnansweredQuestion,
)

APPLICATION_PREFIX = "LA"
BOOKING_PREFIX = "MB"
#: How long a webhook delivery is remembered (redeliveries come within minutes or hours).
DELIVERY_MEMORY = timedelta(days=3)
#: The window of a daily cap, and how long a use of one is remembered.
CAP_WINDOW = timedelta(days=1)
CAP_MEMORY = timedelta(days=2)


def make_reference(prefix: str, day: date, number: int) -> str:
    """``LA-20261126-0001``: kind, day, and the day's running number."""
    return f"{prefix}-{day:%Y%m%d}-{number:04d}"


def with_reference(escalation: Escalation, reference: str) -> Escalation:
    """The escalation that queues a record for staff, pointing at the record's reference."""
    return dataclasses.replace(escalation, context={**escalation.context, "reference": reference})


class CaseStore(Protocol):
    def add_application(
        self, application: LegalAidApplication, escalation: Escalation | None = None
    ) -> LegalAidApplication:
        """Store an application and return it with its reference number.

        ``escalation``, which queues the application for staff, is stored in the same transaction
        with the reference added to its context: both are stored, or neither.
        """

    def add_booking(
        self, booking: MediationBooking, capacity: int, escalation: Escalation | None = None
    ) -> MediationBooking:
        """Reserve the booking's slot (never beyond ``capacity``) and store the booking.

        ``escalation``, which queues the booking for its committee, is stored in the same transaction
        with the reference added to its context: both are stored, or neither.

        Raises:
            SlotUnavailableError: the slot is full.
        """

    def slot_usage(self, committee_id: str, starts: list[datetime]) -> dict[datetime, int]:
        """How many bookings each of the given slots already holds."""

    def add_escalation(self, escalation: Escalation) -> Escalation: ...

    def find(self, reference: str) -> LegalAidApplication | MediationBooking | None: ...

    def escalations(self, status: str = "waiting", limit: int | None = None, offset: int = 0) -> list[Escalation]:
        """Escalations in one status, emergencies first, then oldest first; closed ones newest first.
        ``limit`` and ``offset`` page them (all by default)."""

    # ---- human handoff ----
    def open_escalation(self, sender_id: str) -> Escalation | None:
        """The sender's escalation that is waiting for or claimed by a person, if any."""

    def get_escalation(self, escalation_id: int) -> Escalation | None: ...

    def claim_escalation(self, escalation_id: int, staff: str) -> bool:
        """Atomically take a waiting escalation; False when it is not waiting (any more)."""

    def close_escalation(self, escalation_id: int, staff: str) -> bool: ...

    def prioritise_escalation(self, escalation_id: int) -> None:
        """Move an escalation to the top of the queue (an emergency)."""

    def mark_escalation(self, escalation_id: int, mark: str) -> bool:
        """Set ``notified_at`` / ``overdue_notified_at`` once; True only for the first caller."""

    def add_message(self, message: ConversationMessage) -> ConversationMessage: ...

    def messages(self, escalation_id: int) -> list[ConversationMessage]: ...

    def push_outbox(self, sender_id: str, message: dict) -> int:
        """Queue a message for a web-chat citizen; returns its increasing id."""

    def outbox(self, sender_id: str, after: int = 0) -> list[tuple[int, dict]]: ...

    # ---- webhook deliveries (idempotency across retries and restarts) ----
    def delivered(self, key: str) -> bool:
        """Whether the delivery ``key`` (e.g. ``tg:update:123``) was already handled."""

    def mark_delivered(self, key: str) -> None:
        """Record ``key`` as handled (idempotent)."""

    # ---- daily caps ----
    def take_daily(self, kind: str, limits: Mapping[str, int]) -> bool:
        """Count one use of ``kind`` (a submission, an escalation) against every key of ``limits``,
        unless a key already has its limit of uses in the last ``CAP_WINDOW``: then nothing is
        counted and the answer is False."""

    # ---- what was asked (statistics, unanswered questions) ----
    def record_consultation(self, consultation: Consultation) -> None: ...

    def record_unanswered(self, question: UnansweredQuestion) -> None: ...

    def unanswered(self, limit: int = 1000) -> list[UnansweredQuestion]:
        """Unresolved unanswered questions, newest first."""

    def committee_schedule(self, committee_id: str) -> list[tuple[int, str, int]]:
        """The committee's own slots set in the console: (weekday, "HH:MM", capacity); empty = the default."""

    # ---- personal-information lifecycle (PIPL) ----
    def prune(self, cutoffs: RetentionCutoffs) -> dict[str, int]:
        """Delete every row past its retention period; the number deleted per table."""

    def senders_with_phone(self, phone: str) -> set[str]:
        """The senders of the applications and bookings that give this phone number."""

    def erase(self, sender_ids: Collection[str], pseudonyms: Collection[str]) -> dict[str, int]:
        """Delete everything these senders left: cases (freeing their slots), escalations and
        transcripts, outbox, and by pseudonym statistics and unanswered questions; the number
        deleted per table."""
