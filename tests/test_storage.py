"""The case store: the in-memory twin, SQLite and PostgreSQL behave the same."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from legal_triage.domain import Escalation, LegalAidApplication, MediationBooking
from legal_triage.errors import SlotUnavailableError
from legal_triage.storage.memory import InMemoryCaseStore
from legal_triage.storage.sql import SqlCaseStore, make_engine, upgrade
from tests.conftest import require_service

SLOT = dt.datetime(2026, 12, 1, 9, 0)


def application(sender="web:a") -> LegalAidApplication:
    return LegalAidApplication(sender_id=sender, name="张三", phone="13812345678", town="花石镇", village=None,
                               matter="讨要工资", opponent="某公司", facts="欠薪三个月", deadline=None,
                               economic_status="低保户", eligibility_note="ok")


def booking(committee: str) -> MediationBooking:
    return MediationBooking(sender_id="web:b", dispute_type="邻里纠纷", parties="邻居", town="花石镇", village=None,
                            facts="砌墙", name="李四", phone="13912345678", committee_id=committee, slot_start=SLOT)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "memory":
        yield InMemoryCaseStore()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cases.db'}"
        upgrade(url)
        yield SqlCaseStore(make_engine(url))
        return
    base = require_service("LEGAL_TRIAGE_TEST_POSTGRES_URL")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{schema}"
    upgrade(url)
    engine = make_engine(url)
    yield SqlCaseStore(engine)
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_application_gets_a_daily_reference_and_is_found(store):
    first = store.add_application(application())
    second = store.add_application(application("web:c"))
    assert first.reference.startswith("LA-") and first.reference.endswith("-0001")
    assert second.reference.endswith("-0002")
    found = store.find(first.reference.lower())
    assert found.name == "张三" and found.status.value == "received"
    assert store.find("LA-19990101-0001") is None


def test_booking_never_exceeds_capacity(store):
    committee = f"town-{uuid.uuid4().hex[:6]}"
    store.add_booking(booking(committee), capacity=2)
    store.add_booking(booking(committee), capacity=2)
    with pytest.raises(SlotUnavailableError):
        store.add_booking(booking(committee), capacity=2)
    assert store.slot_usage(committee, [SLOT, SLOT + dt.timedelta(hours=5)]) == {SLOT: 2, SLOT + dt.timedelta(hours=5): 0}


def test_concurrent_bookings_do_not_double_book(store):
    committee = f"town-{uuid.uuid4().hex[:6]}"

    def attempt(_):
        try:
            return store.add_booking(booking(committee), capacity=3).reference
        except SlotUnavailableError:
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(16)))
    made = [r for r in results if r]
    assert len(made) == 3 and len(set(made)) == 3
    assert store.slot_usage(committee, [SLOT])[SLOT] == 3


def test_escalations_are_queued_emergencies_first(store):
    store.add_escalation(Escalation(sender_id="tg:1", reason="request", priority=1))
    store.add_escalation(Escalation(sender_id="web:2", reason="emergency", priority=0, context={"la_town": "花石镇"}))
    queue = store.escalations()
    assert [e.reason for e in queue][:2] == ["emergency", "request"]
    assert queue[0].context == {"la_town": "花石镇"} and queue[0].id is not None
