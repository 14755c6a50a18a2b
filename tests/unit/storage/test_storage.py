"""The case store: the in-memory twin, SQLite and PostgreSQL behave the same."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.domain import (
    Consultation,
    ConversationMessage,
    Escalation,
    LegalAidApplication,
    MediationBooking,
    UnansweredQuestion,
)
from bot.errors import SlotUnavailableError, StorageUnavailableError
from bot.services import mediation
from bot.storage.memory import InMemoryCaseStore
from bot.storage.sql import SqlCaseStore, make_engine, upgrade
from tests.conftest import postgres_schema

SLOT = dt.datetime(2026, 12, 1, 9, 0)


def application(sender="web:a") -> LegalAidApplication:
    return LegalAidApplication(
        sender_id=sender,
        name="张三",
        phone="13812345678",
        town="花石镇",
        village=None,
        matter="讨要工资",
        opponent="某公司",
        facts="欠薪三个月",
        deadline=None,
        economic_status="低保户",
        eligibility_note="ok",
    )


def booking(committee: str) -> MediationBooking:
    return MediationBooking(
        sender_id="web:b",
        dispute_type="邻里纠纷",
        parties="邻居",
        town="花石镇",
        village=None,
        facts="砌墙",
        name="李四",
        phone="13912345678",
        committee_id=committee,
        slot_start=SLOT,
    )


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
    with postgres_schema() as engine:
        yield SqlCaseStore(engine)


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
    assert store.slot_usage(committee, [SLOT, SLOT + dt.timedelta(hours=5)]) == {
        SLOT: 2,
        SLOT + dt.timedelta(hours=5): 0,
    }


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


def test_an_application_and_its_place_in_the_staff_queue_are_stored_together(store, monkeypatch):
    queue = Escalation(sender_id="web:a", reason="intake", priority=1, context={"kind": "legal_aid"})
    stored = store.add_application(application(), escalation=queue)
    assert [e.context for e in store.escalations()] == [{"kind": "legal_aid", "reference": stored.reference}]
    if isinstance(store, InMemoryCaseStore):
        return  # one lock: nothing can fail half-way

    def queue_write_fails(*_):
        raise RuntimeError("queue write failed")

    # the queue entry cannot be written: the application (and its number) is not kept either, so
    # the citizen's retry stores exactly one
    monkeypatch.setattr(SqlCaseStore, "_insert_escalation", staticmethod(queue_write_fails))
    with pytest.raises(RuntimeError):
        store.add_application(application("web:b"), escalation=queue)
    monkeypatch.undo()
    again = store.add_application(application("web:b"), escalation=queue)
    assert again.reference.endswith("-0002") and store.find(again.reference).sender_id == "web:b"
    assert [e.context["reference"] for e in store.escalations()] == [stored.reference, again.reference]


def test_a_booking_and_its_place_in_the_committees_queue_are_stored_together(store, directory, monkeypatch):
    committee = f"town-{uuid.uuid4().hex[:6]}"
    stored = mediation.book(store, directory, booking(committee))
    assert [e.context for e in store.escalations()] == [{"kind": "mediation", "reference": stored.reference}]
    if isinstance(store, InMemoryCaseStore):
        return  # one lock: nothing can fail half-way

    def queue_write_fails(*_):
        raise RuntimeError("queue write failed")

    # the queue entry cannot be written (a crash between the two writes): no booking is kept, and
    # its slot is not taken, so the citizen's retry books exactly once and is queued
    monkeypatch.setattr(SqlCaseStore, "_insert_escalation", staticmethod(queue_write_fails))
    with pytest.raises(RuntimeError):
        mediation.book(store, directory, booking(committee))
    monkeypatch.undo()
    assert store.slot_usage(committee, [SLOT])[SLOT] == 1
    assert store.find(stored.reference[:-4] + "0002") is None
    again = mediation.book(store, directory, booking(committee))
    assert again.reference.endswith("-0002") and store.slot_usage(committee, [SLOT])[SLOT] == 2
    assert [e.context["reference"] for e in store.escalations()] == [stored.reference, again.reference]


def test_handoff_lifecycle_claims_once_and_tells_once(store):
    first = store.add_escalation(Escalation(sender_id="tg:42", reason="request", priority=1))
    assert store.open_escalation("tg:42").id == first.id and store.open_escalation("tg:43") is None
    assert store.mark_escalation(first.id, "notified_at") and not store.mark_escalation(first.id, "notified_at")
    store.prioritise_escalation(first.id)
    assert store.get_escalation(first.id).priority == 0
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda who: store.claim_escalation(first.id, who), [f"staff{i}" for i in range(8)]))
    assert claims.count(True) == 1
    claimed = store.get_escalation(first.id)
    assert claimed.status == "claimed" and claimed.assignee == f"staff{claims.index(True)}" and claimed.channel == "tg"
    store.add_message(ConversationMessage(first.id, "citizen", "在吗"))
    store.add_message(ConversationMessage(first.id, "staff", "您好", "staff0"))
    assert [(m.author, m.text) for m in store.messages(first.id)] == [("citizen", "在吗"), ("staff", "您好")]
    assert store.close_escalation(first.id, "staff0") and not store.close_escalation(first.id, "staff0")
    assert store.open_escalation("tg:42") is None and store.get_escalation(first.id).closed_at is not None


def test_web_outbox_is_per_sender_and_ordered(store):
    a1 = store.push_outbox("web:a", {"text": "一"})
    store.push_outbox("web:b", {"text": "别人的"})
    a2 = store.push_outbox("web:a", {"text": "二"})
    assert [m["text"] for _, m in store.outbox("web:a")] == ["一", "二"]
    assert store.outbox("web:a", after=a1) == [(a2, {"text": "二"})]


def test_questions_are_counted_and_unanswered_ones_kept(store):
    store.record_consultation(Consultation("web:ab12", "web", "confident", "劳动纠纷", "花石镇", "labour-x", 0.61))
    store.record_unanswered(UnansweredQuestion("tg", "我家猪跑到别人田里了", "none", "侵权"))
    store.record_unanswered(UnansweredQuestion("wx", "那个事咋办", "fallback"))
    assert [q.text for q in store.unanswered()] == ["那个事咋办", "我家猪跑到别人田里了"]
    assert store.unanswered()[0].at is not None and store.unanswered()[0].id is not None


def test_unanswered_questions_are_stored_without_phone_id_numbers_or_names(store):
    store.record_unanswered(
        UnansweredQuestion("web", "我叫王建国，电话138 1234 5678，身份证43032119900307123X，老板欠薪咋办", "none")
    )
    [kept] = store.unanswered()
    assert kept.text == "我叫[姓名]，电话[电话]，身份证[身份证号]，老板欠薪咋办"


def test_unanswered_questions_stored_before_are_scrubbed_by_the_migration(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import insert, select

    from bot.storage.schema import unanswered_questions

    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(upgrade.__code__.co_filename).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "0006")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(unanswered_questions).values(
                at=dt.datetime(2026, 11, 1), channel="tg", text="我的电话13812345678，邻居占了我的地", reason="none"
            )
        )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        assert conn.execute(select(unanswered_questions.c.text)).scalar_one() == "我的电话[电话]，邻居占了我的地"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def clocked_store(request, tmp_path):
    """A store of each kind with a clock the test sets."""
    clock = Clock(dt.datetime(2026, 12, 1, 9, 0))
    if request.param == "memory":
        yield InMemoryCaseStore(clock), clock
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cases.db'}"
        upgrade(url)
        yield SqlCaseStore(make_engine(url), clock), clock
    else:
        with postgres_schema() as engine:
            yield SqlCaseStore(engine, clock), clock


def test_a_daily_cap_counts_uses_in_the_last_day_and_refuses_the_one_over(clocked_store):
    store, clock = clocked_store
    assert all(store.take_daily("submission", {"tel:a": 2, "ip:b": 3}) for _ in range(2))
    assert not store.take_daily("submission", {"tel:a": 2, "ip:b": 3})  # the phone is at its cap
    assert store.take_daily("submission", {"tel:c": 2, "ip:b": 3})  # the address has one use left
    assert not store.take_daily("submission", {"tel:d": 2, "ip:b": 3})  # and now none, whatever the phone
    assert store.take_daily("escalation", {"ip:b": 1}) and store.take_daily("submission", {})  # kinds apart
    clock.now += dt.timedelta(hours=24, minutes=1)  # a day later the uses no longer count
    assert store.take_daily("submission", {"tel:a": 2, "ip:b": 3})


def test_a_delivery_is_remembered_once(store):
    assert not store.delivered("tg:update:7")
    store.mark_delivered("tg:update:7")
    store.mark_delivered("tg:update:7")  # idempotent
    assert store.delivered("tg:update:7") and not store.delivered("tg:update:8")


def test_a_full_database_refuses_clearly_and_keeps_what_it_had(tmp_path):
    from sqlalchemy import event

    url = f"sqlite:///{tmp_path / 'cases.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = SqlCaseStore(engine)
    kept = store.add_application(application())
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    engine.dispose()
    # SQLite's own "database or disk is full" (SQLITE_FULL), as on a full disk
    event.listen(engine, "connect", lambda dbapi_conn, _: dbapi_conn.execute(f"PRAGMA max_page_count={pages}"))
    with pytest.raises(StorageUnavailableError):
        for i in range(200):
            store.add_application(dataclasses.replace(application(f"web:{i}"), facts="欠薪" * 2000))
    assert store.find(kept.reference).name == "张三"


@pytest.mark.postgres
def test_an_unreachable_database_is_a_clear_error():
    store = SqlCaseStore(make_engine("postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2"))
    with pytest.raises(StorageUnavailableError):
        store.add_application(application())
    with pytest.raises(StorageUnavailableError):
        store.find("LA-20261126-0001")
