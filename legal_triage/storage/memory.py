"""In-memory twin of the case store, for fast tests."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import datetime

from legal_triage.domain import Escalation, LegalAidApplication, MediationBooking
from legal_triage.errors import SlotUnavailableError
from legal_triage.storage.port import APPLICATION_PREFIX, BOOKING_PREFIX, make_reference


class InMemoryCaseStore:
    def __init__(self, clock=datetime.now) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._counters: Counter[str] = Counter()
        self._records: dict[str, LegalAidApplication | MediationBooking] = {}
        self._usage: Counter[tuple[str, datetime]] = Counter()
        self._escalations: list[Escalation] = []

    def _next(self, prefix: str) -> tuple[str, datetime]:
        now = self._clock()
        key = f"{prefix}-{now:%Y%m%d}"
        self._counters[key] += 1
        return make_reference(prefix, now.date(), self._counters[key]), now

    def add_application(self, application: LegalAidApplication) -> LegalAidApplication:
        with self._lock:
            ref, now = self._next(APPLICATION_PREFIX)
            stored = dataclasses.replace(application, reference=ref, created_at=now)
            self._records[ref] = stored
            return stored

    def add_booking(self, booking: MediationBooking, capacity: int) -> MediationBooking:
        with self._lock:
            key = (booking.committee_id, booking.slot_start)
            if self._usage[key] >= capacity:
                raise SlotUnavailableError()
            self._usage[key] += 1
            ref, now = self._next(BOOKING_PREFIX)
            stored = dataclasses.replace(booking, reference=ref, created_at=now)
            self._records[ref] = stored
            return stored

    def slot_usage(self, committee_id: str, starts: list[datetime]) -> dict[datetime, int]:
        with self._lock:
            return {s: self._usage[(committee_id, s)] for s in starts}

    def add_escalation(self, escalation: Escalation) -> Escalation:
        with self._lock:
            stored = dataclasses.replace(escalation, id=len(self._escalations) + 1, created_at=self._clock())
            self._escalations.append(stored)
            return stored

    def find(self, reference: str) -> LegalAidApplication | MediationBooking | None:
        with self._lock:
            return self._records.get(reference.strip().upper())

    def escalations(self, status: str = "waiting") -> list[Escalation]:
        with self._lock:
            return sorted((e for e in self._escalations if e.status == status), key=lambda e: (e.priority, e.id))
