"""The mediation-booking use case: routing to a committee, free slots, booking."""

from __future__ import annotations

import datetime as dt

from bot.domain import Escalation, MediationBooking
from bot.knowledge.directory import Committee, ServiceDirectory
from bot.services.validation import mask_phone
from bot.storage.port import CaseStore
from bot.wording import (
    BOOKED,
    BOOKING_SUBMITTED,
    MEDIATION_READ_BACK,
    MEDIATION_SUBMITTED,
    SLOT_LABEL,
    SLOT_TIME,
    SLOT_WISHED_TIME,
    WEEKDAY_NAMES,
)

DISPUTE_TYPES: tuple[str, ...] = (
    "邻里纠纷",
    "婚姻家庭",
    "赡养继承",
    "宅基地纠纷",
    "土地承包",
    "债务纠纷",
    "劳动纠纷",
    "交通事故",
    "人身损害",
    "消费纠纷",
    "其他",
)


def dispute_type_from_text(text: str) -> str | None:
    """A dispute type from a button number, its name, or a word in it."""
    text = text.strip()
    if text.isdigit() and 1 <= int(text) <= len(DISPUTE_TYPES):
        return DISPUTE_TYPES[int(text) - 1]
    for kind in DISPUTE_TYPES:
        if kind in text or kind[:2] in text:
            return kind
    return None


def slot_label(start: dt.datetime) -> str:
    return SLOT_LABEL.format(
        month=start.month, day=start.day, weekday=WEEKDAY_NAMES[start.weekday()], time=f"{start:%H:%M}"
    )


def capacities(
    store: CaseStore, directory: ServiceDirectory, committee_id: str, now: dt.datetime
) -> dict[dt.datetime, int]:
    """Every slot in the booking horizon with its capacity: the committee's own schedule (set by its
    mediators in the console) when it has one, else the county default from services.yml."""
    schedule = directory.schedule
    own = store.committee_schedule(committee_id)
    if not own:
        return {start: schedule.capacity for start in schedule.upcoming(now)}
    slots = {}
    for offset in range(schedule.min_lead_days, schedule.horizon_days + 1):
        day = now.date() + dt.timedelta(days=offset)
        for weekday, hhmm, capacity in own:
            if day.weekday() == weekday and capacity > 0:
                slots[dt.datetime.combine(day, dt.time.fromisoformat(hhmm))] = capacity
    return dict(sorted(slots.items()))


def free_slots(
    store: CaseStore, directory: ServiceDirectory, committee: Committee, now: dt.datetime
) -> list[dt.datetime]:
    """The earliest slots with room left, as many as the schedule offers."""
    slots = capacities(store, directory, committee.id, now)
    usage = store.slot_usage(committee.id, list(slots))
    return [s for s, capacity in slots.items() if usage[s] < capacity][: directory.schedule.offered]


def booking(
    directory: ServiceDirectory,
    sender_id: str,
    dispute_type: str,
    parties: str,
    town: str,
    village: str | None,
    facts: str,
    name: str,
    phone: str,
    slot_start: dt.datetime,
) -> MediationBooking:
    """A booking from what the form collected, routed to its committee."""
    return MediationBooking(
        sender_id=sender_id,
        dispute_type=dispute_type,
        parties=parties,
        town=town,
        village=village,
        facts=facts,
        name=name,
        phone=phone,
        committee_id=directory.committee_for(dispute_type, town).id,
        slot_start=slot_start,
    )


def time_line(booking: MediationBooking, confirmed: bool) -> str:
    label = slot_label(booking.slot_start)
    return (SLOT_TIME if confirmed else SLOT_WISHED_TIME).format(label=label)


def read_back(booking: MediationBooking, committee: Committee, confirmed: bool = True) -> str:
    b = booking
    return MEDIATION_READ_BACK.format(
        dispute_type=b.dispute_type,
        parties=b.parties,
        address=f"{b.town}{b.village or ''}",
        facts=b.facts,
        name=b.name,
        phone=mask_phone(b.phone),
        committee=committee.name,
        time_line=time_line(b, confirmed),
    )


def book(store: CaseStore, directory: ServiceDirectory, booking: MediationBooking) -> MediationBooking:
    """Reserve the slot, store the booking and queue it for its committee, in one transaction
    (raises SlotUnavailableError when the slot is full)."""
    own = {(weekday, hhmm): capacity for weekday, hhmm, capacity in store.committee_schedule(booking.committee_id)}
    capacity = own.get((booking.slot_start.weekday(), f"{booking.slot_start:%H:%M}"), directory.schedule.capacity)
    queue = Escalation(
        sender_id=booking.sender_id, reason="intake", priority=1, town=booking.town, context={"kind": "mediation"}
    )
    return store.add_booking(booking, capacity=capacity, escalation=queue)


def confirmation_text(booking: MediationBooking, committee: Committee, confirmed: bool = True) -> str:
    return MEDIATION_SUBMITTED.format(
        head=BOOKED if confirmed else BOOKING_SUBMITTED,
        reference=booking.reference,
        committee=committee.name,
        time_line=time_line(booking, confirmed),
    )
