"""The mediation-booking use case: routing to a committee, free slots, booking."""

from __future__ import annotations

import datetime as dt

from bot.domain import Escalation, MediationBooking
from bot.knowledge.directory import Committee, ServiceDirectory
from bot.services.validation import mask_phone
from bot.storage.port import CaseStore

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

WEEKDAYS = "一二三四五六日"


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
    return f"{start.month}月{start.day}日（周{WEEKDAYS[start.weekday()]}）{start:%H:%M}"


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
    return f"时间：{label}" if confirmed else f"希望的时间：{label}（以调解委员会电话确认的时间为准）"


def read_back(booking: MediationBooking, committee: Committee, confirmed: bool = True) -> str:
    b = booking
    return "\n".join(
        [
            "请核对您的调解预约：",
            f"纠纷类型：{b.dispute_type}",
            f"对方：{b.parties}",
            f"地点：{b.town}{b.village or ''}",
            f"情况：{b.facts}",
            f"姓名：{b.name}",
            f"电话：{mask_phone(b.phone)}",
            f"调解组织：{committee.name}",
            time_line(b, confirmed),
            "信息对吗？",
        ]
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
    head = "预约成功！" if confirmed else "调解预约已提交！"
    return (
        f"{head}预约编号：{booking.reference}\n"
        f"调解组织：{committee.name}\n{time_line(booking, confirmed)}\n"
        "人民调解不收费，双方自愿参加。调解员会先电话和您确认；请带上身份证和相关材料（照片、协议、借条等）。\n"
        "查询进度时发送预约编号即可。"
    )
