"""The personal-information lifecycle: retention (``data prune``) and erasure (``data erase``) on the
in-memory twin, SQLite and PostgreSQL, and on a Rasa SQL tracker store."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import func, insert, select

from bot.domain import (
    ApplicationStatus,
    BookingStatus,
    Consultation,
    ConversationMessage,
    Escalation,
    LegalAidApplication,
    MediationBooking,
    UnansweredQuestion,
)
from bot.entrypoints import cli
from bot.privacy import hashed
from bot.services.accounts import Accounts
from bot.services.caps import SUBMISSION, phone_key
from bot.services.retention import TRACKER, DataLifecycle, cutoffs
from bot.settings import Settings, get_settings
from bot.storage.memory import InMemoryCaseStore
from bot.storage.rasa_tracker import RasaTracker, events
from bot.storage.schema import audit_log, case_events, sessions
from bot.storage.sql import SqlCaseStore, make_engine, upgrade

NOW = dt.datetime.now().replace(microsecond=0)
OLD = NOW - dt.timedelta(days=800)  # past every default period (the longest, statistics, is 730 days)
RECENT = NOW - dt.timedelta(days=1)  # within every period
PHONE = "13812345678"


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def application(sender: str, status=ApplicationStatus.RECEIVED, phone: str = PHONE) -> LegalAidApplication:
    return LegalAidApplication(
        sender_id=sender,
        name="张三",
        phone=phone,
        town="花石镇",
        village=None,
        matter="讨要工资",
        opponent="某公司",
        facts="欠薪三个月",
        deadline=None,
        economic_status="低保户",
        eligibility_note="ok",
        status=status,
    )


def booking(sender: str, status=BookingStatus.BOOKED, phone: str = "13912345678") -> MediationBooking:
    return MediationBooking(
        sender_id=sender,
        dispute_type="邻里纠纷",
        parties="邻居",
        town="花石镇",
        village=None,
        facts="砌墙",
        name="李四",
        phone=phone,
        committee_id=f"c-{uuid.uuid4().hex[:6]}",
        slot_start=NOW + dt.timedelta(days=3),
        status=status,
    )


@dataclass
class Filled:
    sender: str
    closed_application: str
    open_application: str
    closed_escalation: int
    waiting_escalation: int
    unanswered: str
    delivery: str
    slot: tuple[str, dt.datetime]  # the active booking's


def fill(store, clock: Clock, at: dt.datetime, sender: str, phone: str = PHONE) -> Filled:
    """One of everything a citizen leaves behind, written at ``at``."""
    clock.at = at
    closed = store.add_application(application(sender, ApplicationStatus.CLOSED, phone))
    still_open = store.add_application(application(sender, phone=phone))
    store.add_booking(booking(sender, BookingStatus.CANCELLED, phone), capacity=5)
    active = store.add_booking(booking(sender, phone=phone), capacity=5)
    done = store.add_escalation(Escalation(sender_id=sender, reason="request", priority=1))
    store.add_message(ConversationMessage(done.id, "citizen", f"我的电话是{phone}"))
    store.add_message(ConversationMessage(done.id, "staff", "好的", staff="wang"))
    store.close_escalation(done.id, "wang")
    waiting = store.add_escalation(Escalation(sender_id=sender, reason="request", priority=1))
    store.push_outbox(sender, {"text": "工作人员回复"})
    question = f"问题{uuid.uuid4().hex[:8]}"
    store.record_unanswered(UnansweredQuestion("web", question, "none", sender_hash=hashed(sender)))
    store.record_consultation(Consultation(hashed(sender), "web", "none"))
    delivery = f"tg:update:{uuid.uuid4().hex[:8]}"
    store.mark_delivered(delivery)
    assert store.take_daily(SUBMISSION, {phone_key(phone): 99, hashed(sender): 99})
    slot = (active.committee_id, active.slot_start)
    return Filled(sender, closed.reference, still_open.reference, done.id, waiting.id, question, delivery, slot)


#: What one ``fill`` at ``OLD`` leaves for the prune: the finished cases, the closed escalation with
#: its transcript, and everything else but the open cases and the waiting escalation.
PRUNED = {
    "conversation_messages": 2,
    "escalations": 1,
    "legal_aid_applications": 1,
    "mediation_bookings": 1,
    "web_outbox": 1,
    "unanswered_questions": 1,
    "consultations": 1,
    "cap_uses": 2,
}


def check_prune(store, clock: Clock) -> dict:
    tag = uuid.uuid4().hex[:8]
    old, new = fill(store, clock, OLD, f"web:old{tag}"), fill(store, clock, RECENT, f"web:new{tag}")
    clock.at = NOW
    counts = store.prune(cutoffs(Settings(), NOW))
    assert {k: counts[k] for k in PRUNED} == PRUNED
    assert store.find(old.closed_application) is None and store.find(old.open_application) is not None
    assert store.find(new.closed_application) is not None
    assert store.get_escalation(old.closed_escalation) is None and store.messages(old.closed_escalation) == []
    assert store.get_escalation(old.waiting_escalation) is not None
    assert len(store.messages(new.closed_escalation)) == 2
    assert store.outbox(old.sender) == [] and len(store.outbox(new.sender)) == 1
    texts = {q.text for q in store.unanswered()}
    assert old.unanswered not in texts and new.unanswered in texts
    assert not store.delivered(old.delivery) and store.delivered(new.delivery)
    assert store.prune(cutoffs(Settings(), NOW))["legal_aid_applications"] == 0  # nothing twice
    return {"old": old, "new": new, "counts": counts}


def test_prune_deletes_what_is_past_its_period_in_the_memory_twin():
    clock = Clock(NOW)
    check_prune(InMemoryCaseStore(clock), clock)


def tracker_on(engine) -> RasaTracker:
    """Rasa's ``events`` table in the test database, as Rasa's SQLTrackerStore creates it."""
    events.create(engine, checkfirst=True)
    return RasaTracker(engine.url.render_as_string(hide_password=False))


def rasa_event(engine, sender: str, at: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(events).values(sender_id=sender, type_name="user", timestamp=at.timestamp(), data='{"text": "x"}')
        )


def test_prune_deletes_what_is_past_its_period_in_every_table(module_engine, caplog):
    clock = Clock(NOW)
    store, accounts, tracker = (
        SqlCaseStore(module_engine, clock),
        Accounts(module_engine, clock),
        tracker_on(module_engine),
    )
    tag = uuid.uuid4().hex[:8]
    with module_engine.begin() as conn:
        conn.execute(
            insert(sessions),
            [
                {"token_hash": f"old{tag}", "username": "wang", "csrf": "x", "created_at": OLD, "last_seen": OLD},
                {"token_hash": f"new{tag}", "username": "wang", "csrf": "x", "created_at": NOW, "last_seen": NOW},
            ],
        )
        conn.execute(insert(audit_log).values(at=NOW - dt.timedelta(days=1200), username="wang", action="login"))
    rasa_event(module_engine, f"web:old{tag}", OLD)
    rasa_event(module_engine, f"web:new{tag}", RECENT)
    # the case store's part, then the whole use case on what is left
    filled = check_prune(store, clock)
    old = fill(store, clock, OLD, f"web:again{tag}")
    with module_engine.begin() as conn:
        conn.execute(insert(case_events).values(reference=old.closed_application, status="closed", by="wang", at=OLD))
    clock.at = NOW
    with caplog.at_level(logging.INFO, logger="bot"):
        counts = DataLifecycle(Settings(), store, accounts, tracker, clock).prune()
    assert {k: counts[k] for k in PRUNED} == PRUNED
    assert counts["case_events"] == 1 and counts["staff_sessions"] == 1 and counts["audit_log"] == 1
    assert counts[TRACKER] == 1
    with module_engine.connect() as conn:
        senders = set(conn.execute(select(events.c.sender_id)).scalars())
        assert f"web:old{tag}" not in senders and f"web:new{tag}" in senders
        assert (
            conn.execute(select(func.count()).select_from(sessions).where(sessions.c.username == "wang")).scalar() == 1
        )
        audit = conn.execute(select(audit_log).where(audit_log.c.action == "data_prune")).mappings().all()
    assert audit and "legal_aid_applications=1" in audit[-1]["detail"]
    assert filled["new"].sender not in caplog.text and PHONE not in caplog.text


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """The CLI's settings on a fresh data folder (SQLite) with Rasa's tracker database in it."""
    monkeypatch.setenv("LEGAL_TRIAGE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LEGAL_TRIAGE_DATABASE_URL", raising=False)
    monkeypatch.setenv("RASA_TRACKER_URL", f"sqlite:///{tmp_path / 'rasa_tracker.db'}")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_data_prune_command_prints_counts_and_no_personal_data(data_dir, capsys, caplog):
    url = f"sqlite:///{data_dir / 'bot.db'}"
    upgrade(url)
    clock = Clock(NOW)
    old = fill(SqlCaseStore(make_engine(url), clock), clock, OLD, "tg:424242")
    tracker_engine = make_engine(f"sqlite:///{data_dir / 'rasa_tracker.db'}")
    tracker_on(tracker_engine)
    rasa_event(tracker_engine, old.sender, OLD)
    assert cli.main(["data", "prune"]) == 0
    out = capsys.readouterr().out
    assert "legal_aid_applications: 1" in out and "conversation_messages: 2" in out and f"{TRACKER}: 1" in out
    for secret in (old.sender, "424242", PHONE, "张三"):
        assert secret not in out and secret not in caplog.text


def test_data_prune_without_a_tracker_database_says_so(data_dir, capsys):
    (data_dir / "rasa_tracker.db").unlink(missing_ok=True)
    assert cli.main(["data", "prune"]) == 0
    out = capsys.readouterr().out
    assert "legal_aid_applications: 0" in out and "RASA_TRACKER_URL" in out
    assert not (data_dir / "rasa_tracker.db").exists()  # not created by looking


#: What erasing one ``fill``'s sender deletes: all of it.
ERASED = {
    "conversation_messages": 2,
    "escalations": 2,
    "legal_aid_applications": 2,
    "mediation_bookings": 2,
    "web_outbox": 1,
    "unanswered_questions": 1,
    "consultations": 1,
}


def check_erased(store, counts: dict, gone: Filled, kept: Filled) -> None:
    assert {k: counts[k] for k in ERASED} == ERASED
    assert store.find(gone.closed_application) is None and store.find(gone.open_application) is None
    assert store.open_escalation(gone.sender) is None and store.get_escalation(gone.closed_escalation) is None
    assert store.messages(gone.closed_escalation) == [] and store.outbox(gone.sender) == []
    texts = {q.text for q in store.unanswered()}
    assert gone.unanswered not in texts and kept.unanswered in texts
    assert store.slot_usage(gone.slot[0], [gone.slot[1]]) == {gone.slot[1]: 0}  # the place is free again
    assert store.find(kept.open_application) is not None and store.open_escalation(kept.sender) is not None
    assert len(store.messages(kept.closed_escalation)) == 2 and len(store.outbox(kept.sender)) == 1
    assert store.slot_usage(kept.slot[0], [kept.slot[1]]) == {kept.slot[1]: 1}


def test_erase_removes_one_citizen_from_the_memory_twin():
    clock = Clock(RECENT)
    store = InMemoryCaseStore(clock)
    gone, kept = fill(store, clock, RECENT, "tg:1001"), fill(store, clock, RECENT, "tg:1002", phone="13700001111")
    counts = store.erase({"tg:1001"}, {hashed("tg:1001")})
    check_erased(store, counts, gone, kept)
    assert counts["cap_uses"] == 1  # the sender's; its phone's goes when erased by phone


def test_erase_by_phone_removes_the_citizen_everywhere_and_audits_a_pseudonym(module_engine):
    clock = Clock(RECENT)
    store, accounts, tracker = (
        SqlCaseStore(module_engine, clock),
        Accounts(module_engine, clock),
        tracker_on(module_engine),
    )
    digits = f"{uuid.uuid4().int % 10**8:08d}"
    phone, other = f"137{digits}", f"136{digits}"
    gone = fill(store, clock, RECENT, f"tg:{digits}", phone=phone)
    kept = fill(store, clock, RECENT, f"web:{uuid.uuid4()}", phone=other)
    with module_engine.begin() as conn:
        conn.execute(insert(case_events).values(reference=gone.closed_application, status="closed", by="wang", at=NOW))
    rasa_event(module_engine, gone.sender, RECENT)
    rasa_event(module_engine, kept.sender, RECENT)
    unkeyed = "tg:" + hashlib.sha256(gone.sender.encode()).hexdigest()[:12]  # statistics from before HMAC
    store.record_consultation(Consultation(unkeyed, "tg", "none"))
    lifecycle = DataLifecycle(Settings(), store, accounts, tracker, clock)
    counts = lifecycle.erase(f"{phone[:3]} {phone[3:7]}-{phone[7:]}")  # as staff may type it
    assert counts["consultations"] == 2
    check_erased(store, {**counts, "consultations": 1}, gone, kept)
    assert counts["senders"] == 1 and counts["case_events"] == 1 and counts[TRACKER] == 1
    assert counts["cap_uses"] == 2  # the phone's and the sender's uses of the daily caps
    with module_engine.connect() as conn:
        senders = set(conn.execute(select(events.c.sender_id)).scalars())
        audit = conn.execute(select(audit_log).where(audit_log.c.action == "data_erase")).mappings().all()
    assert gone.sender not in senders and kept.sender in senders
    assert audit[-1]["target"] == hashed(phone) and audit[-1]["username"] == "cli"
    assert not any(phone in str(v) or digits in str(v) for row in audit for v in row.values())
    assert lifecycle.erase(phone)["legal_aid_applications"] == 0  # nothing left, nothing else touched


def test_data_erase_command_by_sender_id(data_dir, capsys):
    url = f"sqlite:///{data_dir / 'bot.db'}"
    upgrade(url)
    clock = Clock(RECENT)
    gone = fill(SqlCaseStore(make_engine(url), clock), clock, RECENT, "tg:515151")
    tracker_engine = make_engine(f"sqlite:///{data_dir / 'rasa_tracker.db'}")
    tracker_on(tracker_engine)
    rasa_event(tracker_engine, gone.sender, RECENT)
    assert cli.main(["data", "erase", "tg:515151"]) == 0
    out = capsys.readouterr().out
    assert "legal_aid_applications: 2" in out and "consultations: 1" in out and f"{TRACKER}: 1" in out
    assert "515151" not in out
    assert cli.main(["data", "erase", "not a citizen"]) == 2
