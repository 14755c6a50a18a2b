"""In-memory twin of the case store, for fast tests."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import datetime

from bot.domain import (
    Consultation,
    ConversationMessage,
    Escalation,
    LegalAidApplication,
    MediationBooking,
    UnansweredQuestion,
)
from bot.errors import SlotUnavailableError
from bot.storage.port import APPLICATION_PREFIX, BOOKING_PREFIX, make_reference, with_reference


class InMemoryCaseStore:
    def __init__(self, clock=datetime.now) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._counters: Counter[str] = Counter()
        self._records: dict[str, LegalAidApplication | MediationBooking] = {}
        self._usage: Counter[tuple[str, datetime]] = Counter()
        self._escalations: list[Escalation] = []
        self._messages: list[ConversationMessage] = []
        self._outbox: list[tuple[int, str, dict]] = []
        self.consultations: list[Consultation] = []
        self.schedules: dict[str, list[tuple[int, str, int]]] = {}
        self._unanswered: list[UnansweredQuestion] = []
        self._delivered: set[str] = set()

    def _next(self, prefix: str) -> tuple[str, datetime]:
        now = self._clock()
        key = f"{prefix}-{now:%Y%m%d}"
        self._counters[key] += 1
        return make_reference(prefix, now.date(), self._counters[key]), now

    def add_application(
        self, application: LegalAidApplication, escalation: Escalation | None = None
    ) -> LegalAidApplication:
        with self._lock:
            ref, now = self._next(APPLICATION_PREFIX)
            stored = dataclasses.replace(application, reference=ref, created_at=now)
            self._records[ref] = stored
            if escalation is not None:
                self._queue(with_reference(escalation, ref))
            return stored

    def add_booking(
        self, booking: MediationBooking, capacity: int, escalation: Escalation | None = None
    ) -> MediationBooking:
        with self._lock:
            key = (booking.committee_id, booking.slot_start)
            if self._usage[key] >= capacity:
                raise SlotUnavailableError()
            self._usage[key] += 1
            ref, now = self._next(BOOKING_PREFIX)
            stored = dataclasses.replace(booking, reference=ref, created_at=now)
            self._records[ref] = stored
            if escalation is not None:
                self._queue(with_reference(escalation, ref))
            return stored

    def slot_usage(self, committee_id: str, starts: list[datetime]) -> dict[datetime, int]:
        with self._lock:
            return {s: self._usage[(committee_id, s)] for s in starts}

    def _queue(self, escalation: Escalation) -> Escalation:
        stored = dataclasses.replace(escalation, id=len(self._escalations) + 1, created_at=self._clock())
        self._escalations.append(stored)
        return stored

    def add_escalation(self, escalation: Escalation) -> Escalation:
        with self._lock:
            return self._queue(escalation)

    def find(self, reference: str) -> LegalAidApplication | MediationBooking | None:
        with self._lock:
            return self._records.get(reference.strip().upper())

    def escalations(self, status: str = "waiting", limit: int | None = None, offset: int = 0) -> list[Escalation]:
        order = (lambda e: -e.id) if status == "closed" else (lambda e: (e.priority, e.id))
        with self._lock:
            found = sorted((e for e in self._escalations if e.status == status), key=order)
        return found[offset : None if limit is None else offset + limit]

    # ---- human handoff --------------------------------------------------------------------
    def _replace(self, escalation_id: int, **changes) -> None:
        self._escalations = [
            dataclasses.replace(e, **changes) if e.id == escalation_id else e for e in self._escalations
        ]

    def open_escalation(self, sender_id: str) -> Escalation | None:
        with self._lock:
            found = [e for e in self._escalations if e.sender_id == sender_id and e.status in ("waiting", "claimed")]
            return found[-1] if found else None

    def get_escalation(self, escalation_id: int) -> Escalation | None:
        with self._lock:
            return next((e for e in self._escalations if e.id == escalation_id), None)

    def claim_escalation(self, escalation_id: int, staff: str) -> bool:
        with self._lock:
            current = next((e for e in self._escalations if e.id == escalation_id), None)
            if current is None or current.status != "waiting":
                return False
            self._replace(escalation_id, status="claimed", assignee=staff, claimed_at=self._clock())
            return True

    def close_escalation(self, escalation_id: int, staff: str) -> bool:
        with self._lock:
            current = next((e for e in self._escalations if e.id == escalation_id), None)
            if current is None or current.status == "closed":
                return False
            self._replace(escalation_id, status="closed", assignee=current.assignee or staff, closed_at=self._clock())
            return True

    def prioritise_escalation(self, escalation_id: int) -> None:
        with self._lock:
            self._replace(escalation_id, priority=0)

    def mark_escalation(self, escalation_id: int, mark: str) -> bool:
        if mark not in ("notified_at", "overdue_notified_at"):
            raise ValueError(mark)
        with self._lock:
            current = next((e for e in self._escalations if e.id == escalation_id), None)
            if current is None or getattr(current, mark) is not None:
                return False
            self._replace(escalation_id, **{mark: self._clock()})
            return True

    def add_message(self, message: ConversationMessage) -> ConversationMessage:
        with self._lock:
            stored = dataclasses.replace(message, id=len(self._messages) + 1, created_at=self._clock())
            self._messages.append(stored)
            return stored

    def messages(self, escalation_id: int) -> list[ConversationMessage]:
        with self._lock:
            return [m for m in self._messages if m.escalation_id == escalation_id]

    def push_outbox(self, sender_id: str, message: dict) -> int:
        with self._lock:
            self._outbox.append((len(self._outbox) + 1, sender_id, message))
            return len(self._outbox)

    def outbox(self, sender_id: str, after: int = 0) -> list[tuple[int, dict]]:
        with self._lock:
            return [(i, m) for i, s, m in self._outbox if s == sender_id and i > after]

    # ---- webhook deliveries ------------------------------------------------------------------
    def delivered(self, key: str) -> bool:
        with self._lock:
            return key in self._delivered

    def mark_delivered(self, key: str) -> None:
        with self._lock:
            self._delivered.add(key)

    # ---- what was asked -------------------------------------------------------------------
    def record_consultation(self, consultation: Consultation) -> None:
        with self._lock:
            self.consultations.append(dataclasses.replace(consultation, at=consultation.at or self._clock()))

    def record_unanswered(self, question: UnansweredQuestion) -> None:
        with self._lock:
            self._unanswered.append(
                dataclasses.replace(question, id=len(self._unanswered) + 1, at=question.at or self._clock())
            )

    def unanswered(self, limit: int = 1000) -> list[UnansweredQuestion]:
        with self._lock:
            return [q for q in reversed(self._unanswered) if q.resolved_faq_id is None][:limit]

    def committee_schedule(self, committee_id: str) -> list[tuple[int, str, int]]:
        with self._lock:
            return list(self.schedules.get(committee_id, []))
