"""In-memory twin of the case store, for fast tests."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections import Counter
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from bot.domain import (
    FINAL_APPLICATION_STATUSES,
    FINAL_BOOKING_STATUSES,
    BookingStatus,
    Consultation,
    ConversationMessage,
    Escalation,
    LegalAidApplication,
    MediationBooking,
    RetentionCutoffs,
    UnansweredQuestion,
)
from bot.errors import SlotUnavailableError
from bot.privacy import scrub
from bot.storage.port import (
    APPLICATION_PREFIX,
    BOOKING_PREFIX,
    CAP_MEMORY,
    CAP_WINDOW,
    DELIVERY_MEMORY,
    make_reference,
    with_reference,
)


class InMemoryCaseStore:
    def __init__(self, clock=datetime.now) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._counters: Counter[str] = Counter()
        self._records: dict[str, LegalAidApplication | MediationBooking] = {}
        self._usage: Counter[tuple[str, datetime]] = Counter()
        self._escalations: list[Escalation] = []
        self._messages: list[ConversationMessage] = []
        self._outbox: list[tuple[int, str, dict, datetime]] = []
        # ids keep increasing after deletions (retention, erasure), as SQL's do
        self._ids = {kind: itertools.count(1) for kind in ("escalation", "message", "outbox", "unanswered")}
        self.consultations: list[Consultation] = []
        self.schedules: dict[str, list[tuple[int, str, int]]] = {}
        self._unanswered: list[UnansweredQuestion] = []
        self._delivered: dict[str, datetime] = {}
        self._cap_uses: list[tuple[str, str, datetime]] = []  # (kind, key, at)

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
        stored = dataclasses.replace(escalation, id=next(self._ids["escalation"]), created_at=self._clock())
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
            stored = dataclasses.replace(message, id=next(self._ids["message"]), created_at=self._clock())
            self._messages.append(stored)
            return stored

    def messages(self, escalation_id: int) -> list[ConversationMessage]:
        with self._lock:
            return [m for m in self._messages if m.escalation_id == escalation_id]

    def push_outbox(self, sender_id: str, message: dict) -> int:
        with self._lock:
            new_id = next(self._ids["outbox"])
            self._outbox.append((new_id, sender_id, message, self._clock()))
            return new_id

    def outbox(self, sender_id: str, after: int = 0) -> list[tuple[int, dict]]:
        with self._lock:
            return [(i, m) for i, s, m, _ in self._outbox if s == sender_id and i > after]

    # ---- webhook deliveries ------------------------------------------------------------------
    def delivered(self, key: str) -> bool:
        with self._lock:
            return key in self._delivered

    def mark_delivered(self, key: str) -> None:
        with self._lock:
            self._delivered.setdefault(key, self._clock())

    # ---- what was asked -------------------------------------------------------------------
    def record_consultation(self, consultation: Consultation) -> None:
        with self._lock:
            self.consultations.append(dataclasses.replace(consultation, at=consultation.at or self._clock()))

    def record_unanswered(self, question: UnansweredQuestion) -> None:
        with self._lock:
            self._unanswered.append(
                dataclasses.replace(
                    question,
                    text=scrub(question.text),
                    id=next(self._ids["unanswered"]),
                    at=question.at or self._clock(),
                )
            )

    def unanswered(self, limit: int = 1000) -> list[UnansweredQuestion]:
        with self._lock:
            return [q for q in reversed(self._unanswered) if q.resolved_faq_id is None][:limit]

    # ---- daily caps ---------------------------------------------------------------------------
    def take_daily(self, kind: str, limits: Mapping[str, int]) -> bool:
        with self._lock:
            now = self._clock()
            recent = Counter(k for c, k, at in self._cap_uses if c == kind and at >= now - CAP_WINDOW)
            if any(recent[key] >= limit for key, limit in limits.items()):
                return False
            self._cap_uses.extend((kind, key, now) for key in limits)
            return True

    def committee_schedule(self, committee_id: str) -> list[tuple[int, str, int]]:
        with self._lock:
            return list(self.schedules.get(committee_id, []))

    # ---- personal-information lifecycle -----------------------------------------------------
    def prune(self, cutoffs: RetentionCutoffs) -> dict[str, int]:
        def finished(record) -> bool:  # the twin keeps no status history: a record's last change is its creation
            final = FINAL_APPLICATION_STATUSES if isinstance(record, LegalAidApplication) else FINAL_BOOKING_STATUSES
            return record.status.value in final and record.created_at < cutoffs.cases

        with self._lock:
            closed = {
                e.id
                for e in self._escalations
                if e.status == "closed" and e.closed_at is not None and e.closed_at < cutoffs.transcripts
            }
            old_records = {ref for ref, r in self._records.items() if finished(r)}
            old_deliveries = {k for k, at in self._delivered.items() if at < self._clock() - DELIVERY_MEMORY}
            kept: dict[str, Any] = {
                "conversation_messages": [m for m in self._messages if m.escalation_id not in closed],
                "escalations": [e for e in self._escalations if e.id not in closed],
                "web_outbox": [o for o in self._outbox if o[3] >= cutoffs.outbox],
                "unanswered_questions": [q for q in self._unanswered if q.at is None or q.at >= cutoffs.unanswered],
                "consultations": [c for c in self.consultations if c.at is None or c.at >= cutoffs.statistics],
            }
            counts = {
                "conversation_messages": len(self._messages) - len(kept["conversation_messages"]),
                "escalations": len(self._escalations) - len(kept["escalations"]),
                "case_events": 0,  # status changes are the console's, on SQL only
                "legal_aid_applications": sum(isinstance(self._records[r], LegalAidApplication) for r in old_records),
                "mediation_bookings": sum(isinstance(self._records[r], MediationBooking) for r in old_records),
                "web_outbox": len(self._outbox) - len(kept["web_outbox"]),
                "unanswered_questions": len(self._unanswered) - len(kept["unanswered_questions"]),
                "consultations": len(self.consultations) - len(kept["consultations"]),
                "inbound_deliveries": len(old_deliveries),
                "cap_uses": sum(at < self._clock() - CAP_MEMORY for _, _, at in self._cap_uses),
            }
            self._messages, self._escalations = kept["conversation_messages"], kept["escalations"]
            self._outbox, self._unanswered = kept["web_outbox"], kept["unanswered_questions"]
            self.consultations = kept["consultations"]
            self._records = {ref: r for ref, r in self._records.items() if ref not in old_records}
            self._delivered = {k: at for k, at in self._delivered.items() if k not in old_deliveries}
            self._cap_uses = [u for u in self._cap_uses if u[2] >= self._clock() - CAP_MEMORY]
            return counts

    def senders_with_phone(self, phone: str) -> set[str]:
        with self._lock:
            return {r.sender_id for r in self._records.values() if r.phone == phone}

    def erase(self, sender_ids: Collection[str], pseudonyms: Collection[str]) -> dict[str, int]:
        senders, hashes = set(sender_ids), set(pseudonyms)
        with self._lock:
            theirs = {e.id for e in self._escalations if e.sender_id in senders}
            records = {ref: r for ref, r in self._records.items() if r.sender_id in senders}
            for r in records.values():
                if isinstance(r, MediationBooking) and r.status in (BookingStatus.BOOKED, BookingStatus.CONFIRMED):
                    self._usage[(r.committee_id, r.slot_start)] -= 1
            counts = {
                "conversation_messages": sum(m.escalation_id in theirs for m in self._messages),
                "escalations": len(theirs),
                "case_events": 0,  # status changes are the console's, on SQL only
                "legal_aid_applications": sum(isinstance(r, LegalAidApplication) for r in records.values()),
                "mediation_bookings": sum(isinstance(r, MediationBooking) for r in records.values()),
                "web_outbox": sum(o[1] in senders for o in self._outbox),
                "unanswered_questions": sum(q.sender_hash in hashes for q in self._unanswered),
                "consultations": sum(c.sender_hash in hashes for c in self.consultations),
                "cap_uses": sum(key in hashes for _, key, _ in self._cap_uses),
            }
            self._messages = [m for m in self._messages if m.escalation_id not in theirs]
            self._escalations = [e for e in self._escalations if e.id not in theirs]
            self._records = {ref: r for ref, r in self._records.items() if ref not in records}
            self._outbox = [o for o in self._outbox if o[1] not in senders]
            self._unanswered = [q for q in self._unanswered if q.sender_hash not in hashes]
            self.consultations = [c for c in self.consultations if c.sender_hash not in hashes]
            self._cap_uses = [u for u in self._cap_uses if u[1] not in hashes]
            return counts
