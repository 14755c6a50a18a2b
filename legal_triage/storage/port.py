"""The case-store port."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from legal_triage.domain import Escalation, LegalAidApplication, MediationBooking

APPLICATION_PREFIX = "LA"
BOOKING_PREFIX = "MB"


def make_reference(prefix: str, day: date, number: int) -> str:
    """``LA-20261126-0001``: kind, day, and the day's running number."""
    return f"{prefix}-{day:%Y%m%d}-{number:04d}"


class CaseStore(Protocol):
    def add_application(self, application: LegalAidApplication) -> LegalAidApplication:
        """Store an application and return it with its reference number."""

    def add_booking(self, booking: MediationBooking, capacity: int) -> MediationBooking:
        """Reserve the booking's slot (never beyond ``capacity``) and store the booking.

        Raises:
            SlotUnavailableError: the slot is full.
        """

    def slot_usage(self, committee_id: str, starts: list[datetime]) -> dict[datetime, int]:
        """How many bookings each of the given slots already holds."""

    def add_escalation(self, escalation: Escalation) -> Escalation: ...

    def find(self, reference: str) -> LegalAidApplication | MediationBooking | None: ...

    def escalations(self, status: str = "waiting") -> list[Escalation]: ...
