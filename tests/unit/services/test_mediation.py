"""Mediation slots: the county default schedule, or a committee's own schedule set in the console."""

from __future__ import annotations

import datetime as dt

from bot.services import mediation
from bot.storage.memory import InMemoryCaseStore

MONDAY = dt.datetime(2026, 11, 23, 10, 0)


def test_default_schedule_offers_the_earliest_free_slots(directory):
    store = InMemoryCaseStore()
    committee = directory.committee_for("邻里纠纷", "花石镇")
    slots = mediation.free_slots(store, directory, committee, MONDAY)
    assert len(slots) == directory.schedule.offered and slots == sorted(slots) and slots[0] > MONDAY


def test_a_committee_schedule_from_the_console_replaces_the_default(directory):
    store = InMemoryCaseStore()
    committee = directory.committee_for("邻里纠纷", "花石镇")
    store.schedules[committee.id] = [(5, "10:00", 1)]  # Saturdays at ten, one case each
    slots = mediation.free_slots(store, directory, committee, MONDAY)
    assert slots and all(s.weekday() == 5 and s.time() == dt.time(10, 0) for s in slots)
    booking = mediation.booking(
        directory, "web:a", "邻里纠纷", "邻居", "花石镇", None, "砌墙", "李四", "13912345678", slots[0]
    )
    mediation.book(store, directory, booking)  # capacity 1: the slot is now full and no longer offered
    assert slots[0] not in mediation.free_slots(store, directory, committee, MONDAY)


def test_an_unconfirmed_schedule_offers_wishes_and_a_confirmed_one_appointments(directory):
    assert directory.schedule.confirmed is False  # the shipped services.yml: the bureau has not confirmed hours
    committee = directory.committee_for("邻里纠纷", "花石镇")
    start = dt.datetime(2026, 11, 24, 9, 0)
    booking = mediation.booking(
        directory, "web:a", "邻里纠纷", "邻居", "花石镇", None, "砌墙", "李四", "13912345678", start
    )
    wish = mediation.read_back(booking, committee, confirmed=False)
    assert "希望的时间" in wish and "以调解委员会电话确认的时间为准" in wish
    assert "预约成功" not in mediation.confirmation_text(booking, committee, confirmed=False)
    fixed = mediation.confirmation_text(booking, committee, confirmed=True)
    assert fixed.startswith("预约成功") and "希望的时间" not in fixed
