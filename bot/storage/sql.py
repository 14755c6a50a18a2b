"""SQL adapter of the case store (SQLite file by default, PostgreSQL by URL) via SQLAlchemy.

The schema is created and changed only by the Alembic migrations in ``bot/storage/migrations``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import (
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from bot.domain import (
    FINAL_APPLICATION_STATUSES,
    FINAL_BOOKING_STATUSES,
    ApplicationStatus,
    BookingStatus,
    Consultation,
    ConversationMessage,
    Escalation,
    LegalAidApplication,
    MediationBooking,
    RetentionCutoffs,
    UnansweredQuestion,
)
from bot.errors import SlotUnavailableError, StorageUnavailableError
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
from bot.storage.schema import (  # noqa: F401 - the tables are this adapter's, re-exported
    applications,
    bookings,
    cap_uses,
    case_events,
    committee_schedules,
    consultations,
    conversation_messages,
    counters,
    escalations,
    faq_drafts,
    inbound_deliveries,
    metadata,
    slots,
    unanswered_questions,
    web_outbox,
)

_ESCALATION_FIELDS = (
    "sender_id",
    "reason",
    "priority",
    "topic",
    "town",
    "id",
    "status",
    "created_at",
    "assignee",
    "claimed_at",
    "closed_at",
    "notified_at",
    "overdue_notified_at",
)
_MARKS = frozenset({"notified_at", "overdue_notified_at"})


def _escalation(row) -> Escalation:
    return Escalation(**{k: row[k] for k in _ESCALATION_FIELDS}, context=json.loads(row["context"]))


def _new_id(result: CursorResult) -> int:
    """The id of the row a single-row insert just added (SQLAlchemy types the key as optional)."""
    key = result.inserted_primary_key
    if key is None:
        raise ValueError("not the result of a single-row insert")
    return key[0]


def make_engine(url: str) -> Engine:
    """An engine with the settings each dialect needs for concurrent writers."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            # pysqlite's own transaction handling steps aside so that BEGIN IMMEDIATE works.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn) -> None:
            # Take the write lock at BEGIN so read-then-write transactions cannot deadlock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade(url: str) -> None:
    """Bring the database schema to the newest migration."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


def _unavailable_as_domain_error(cls):
    """Wrap every public method so that a database that cannot be reached, or is full, raises
    :class:`StorageUnavailableError` (a clear, catchable error; the transaction is rolled back, so
    nothing half-written and nothing already stored is lost)."""

    def wrap(method):
        @functools.wraps(method)
        def translated(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except (OperationalError, InterfaceError) as exc:
                raise StorageUnavailableError(f"database unavailable: {type(exc.orig or exc).__name__}") from exc

        return translated

    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_"):
            setattr(cls, name, wrap(member))
    return cls


#: What a legal-aid application stores beyond its reference and time (written and read back the same).
_APPLICATION_FIELDS = (
    "sender_id",
    "name",
    "phone",
    "town",
    "village",
    "matter",
    "opponent",
    "facts",
    "deadline",
    "economic_status",
    "eligibility_note",
)


@_unavailable_as_domain_error
class SqlCaseStore:
    def __init__(self, engine: Engine, clock=datetime.now) -> None:
        self._engine = engine
        self._clock = clock

    def _next_reference(self, conn, prefix: str, now: datetime) -> str:
        key = f"{prefix}-{now:%Y%m%d}"
        result = conn.execute(update(counters).where(counters.c.key == key).values(last=counters.c.last + 1))
        if result.rowcount == 0:
            try:
                with conn.begin_nested():
                    conn.execute(insert(counters).values(key=key, last=1))
            except IntegrityError:  # another writer created the row first
                conn.execute(update(counters).where(counters.c.key == key).values(last=counters.c.last + 1))
        number = conn.execute(select(counters.c.last).where(counters.c.key == key)).scalar_one()
        return make_reference(prefix, now.date(), number)

    def add_application(
        self, application: LegalAidApplication, escalation: Escalation | None = None
    ) -> LegalAidApplication:
        now = self._clock()
        with self._engine.begin() as conn:
            ref = self._next_reference(conn, APPLICATION_PREFIX, now)
            values = {k: getattr(application, k) for k in _APPLICATION_FIELDS}
            conn.execute(
                insert(applications).values(
                    reference=ref, status=application.status.value, created_at=now, updated_at=now, **values
                )
            )
            if escalation is not None:
                self._insert_escalation(conn, with_reference(escalation, ref), now)
        return LegalAidApplication(**values, reference=ref, status=application.status, created_at=now)

    def add_booking(
        self, booking: MediationBooking, capacity: int, escalation: Escalation | None = None
    ) -> MediationBooking:
        now = self._clock()
        with self._engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(slots).values(committee_id=booking.committee_id, slot_start=booking.slot_start, booked=0)
                    )
            except IntegrityError:
                pass  # the slot row exists already
            taken = conn.execute(
                update(slots)
                .where(
                    slots.c.committee_id == booking.committee_id,
                    slots.c.slot_start == booking.slot_start,
                    slots.c.booked < capacity,
                )
                .values(booked=slots.c.booked + 1)
            )
            if taken.rowcount != 1:
                raise SlotUnavailableError()
            ref = self._next_reference(conn, BOOKING_PREFIX, now)
            values = {
                k: getattr(booking, k)
                for k in (
                    "sender_id",
                    "dispute_type",
                    "parties",
                    "town",
                    "village",
                    "facts",
                    "name",
                    "phone",
                    "committee_id",
                    "slot_start",
                )
            }
            conn.execute(
                insert(bookings).values(
                    reference=ref, status=booking.status.value, created_at=now, updated_at=now, **values
                )
            )
            if escalation is not None:
                self._insert_escalation(conn, with_reference(escalation, ref), now)
        return MediationBooking(**values, reference=ref, status=booking.status, created_at=now)

    def slot_usage(self, committee_id: str, starts: list[datetime]) -> dict[datetime, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(slots.c.slot_start, slots.c.booked).where(
                    slots.c.committee_id == committee_id, slots.c.slot_start.in_(starts)
                )
            ).all()
        used = {r.slot_start: r.booked for r in rows}
        return {s: used.get(s, 0) for s in starts}

    @staticmethod
    def _insert_escalation(conn, escalation: Escalation, now: datetime) -> int:
        result = conn.execute(
            insert(escalations).values(
                sender_id=escalation.sender_id,
                reason=escalation.reason,
                priority=escalation.priority,
                topic=escalation.topic,
                town=escalation.town,
                context=json.dumps(escalation.context, ensure_ascii=False),
                status=escalation.status,
                created_at=now,
            )
        )
        return _new_id(result)

    def add_escalation(self, escalation: Escalation) -> Escalation:
        now = self._clock()
        with self._engine.begin() as conn:
            new_id = self._insert_escalation(conn, escalation, now)
        return Escalation(**{**escalation.__dict__, "id": new_id, "created_at": now})

    def find(self, reference: str) -> LegalAidApplication | MediationBooking | None:
        ref = reference.strip().upper()
        with self._engine.connect() as conn:
            row = conn.execute(select(applications).where(applications.c.reference == ref)).mappings().first()
            if row:
                data = {k: row[k] for k in (*_APPLICATION_FIELDS, "reference", "created_at")}
                return LegalAidApplication(**data, status=ApplicationStatus(row["status"]))
            row = conn.execute(select(bookings).where(bookings.c.reference == ref)).mappings().first()
            if row:
                data = {
                    k: row[k]
                    for k in (
                        "sender_id",
                        "dispute_type",
                        "parties",
                        "town",
                        "village",
                        "facts",
                        "name",
                        "phone",
                        "committee_id",
                        "slot_start",
                        "reference",
                        "created_at",
                    )
                }
                return MediationBooking(**data, status=BookingStatus(row["status"]))
        return None

    def escalations(self, status: str = "waiting", limit: int | None = None, offset: int = 0) -> list[Escalation]:
        order = (escalations.c.id.desc(),) if status == "closed" else (escalations.c.priority, escalations.c.id)
        with self._engine.connect() as conn:
            rows = (
                conn.execute(
                    select(escalations)
                    .where(escalations.c.status == status)
                    .order_by(*order)
                    .offset(offset)
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [_escalation(r) for r in rows]

    # ---- human handoff --------------------------------------------------------------------
    def open_escalation(self, sender_id: str) -> Escalation | None:
        with self._engine.connect() as conn:
            row = (
                conn.execute(
                    select(escalations)
                    .where(escalations.c.sender_id == sender_id, escalations.c.status.in_(("waiting", "claimed")))
                    .order_by(escalations.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
        return _escalation(row) if row else None

    def get_escalation(self, escalation_id: int) -> Escalation | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(escalations).where(escalations.c.id == escalation_id)).mappings().first()
        return _escalation(row) if row else None

    def claim_escalation(self, escalation_id: int, staff: str) -> bool:
        with self._engine.begin() as conn:
            done = conn.execute(
                update(escalations)
                .where(escalations.c.id == escalation_id, escalations.c.status == "waiting")
                .values(status="claimed", assignee=staff, claimed_at=self._clock())
            )
        return done.rowcount == 1

    def close_escalation(self, escalation_id: int, staff: str) -> bool:
        with self._engine.begin() as conn:
            done = conn.execute(
                update(escalations)
                .where(escalations.c.id == escalation_id, escalations.c.status != "closed")
                .values(status="closed", assignee=func.coalesce(escalations.c.assignee, staff), closed_at=self._clock())
            )
        return done.rowcount == 1

    def prioritise_escalation(self, escalation_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(escalations).where(escalations.c.id == escalation_id).values(priority=0))

    def mark_escalation(self, escalation_id: int, mark: str) -> bool:
        if mark not in _MARKS:
            raise ValueError(mark)
        column = escalations.c[mark]
        with self._engine.begin() as conn:
            done = conn.execute(
                update(escalations)
                .where(escalations.c.id == escalation_id, column.is_(None))
                .values({mark: self._clock()})
            )
        return done.rowcount == 1

    def add_message(self, message: ConversationMessage) -> ConversationMessage:
        now = self._clock()
        with self._engine.begin() as conn:
            result = conn.execute(
                insert(conversation_messages).values(
                    escalation_id=message.escalation_id,
                    author=message.author,
                    staff=message.staff,
                    text=message.text,
                    created_at=now,
                )
            )
            new_id = _new_id(result)
        return dataclasses.replace(message, id=new_id, created_at=now)

    def messages(self, escalation_id: int) -> list[ConversationMessage]:
        with self._engine.connect() as conn:
            rows = (
                conn.execute(
                    select(conversation_messages)
                    .where(conversation_messages.c.escalation_id == escalation_id)
                    .order_by(conversation_messages.c.id)
                )
                .mappings()
                .all()
            )
        return [
            ConversationMessage(r["escalation_id"], r["author"], r["text"], r["staff"], r["id"], r["created_at"])
            for r in rows
        ]

    def push_outbox(self, sender_id: str, message: dict) -> int:
        with self._engine.begin() as conn:
            result = conn.execute(
                insert(web_outbox).values(
                    sender_id=sender_id, message=json.dumps(message, ensure_ascii=False), created_at=self._clock()
                )
            )
            return _new_id(result)

    def outbox(self, sender_id: str, after: int = 0) -> list[tuple[int, dict]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(web_outbox.c.id, web_outbox.c.message)
                .where(web_outbox.c.sender_id == sender_id, web_outbox.c.id > after)
                .order_by(web_outbox.c.id)
            ).all()
        return [(r.id, json.loads(r.message)) for r in rows]

    # ---- webhook deliveries ------------------------------------------------------------------
    def delivered(self, key: str) -> bool:
        with self._engine.connect() as conn:
            return (
                conn.execute(select(inbound_deliveries.c.key).where(inbound_deliveries.c.key == key)).first()
                is not None
            )

    def mark_delivered(self, key: str) -> None:
        now = self._clock()
        with self._engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(insert(inbound_deliveries).values(key=key, at=now))
            except IntegrityError:
                return  # handled twice at once (another process): once is recorded
            if hash(key) % 100 == 0:  # now and then, forget deliveries too old to be redelivered
                conn.execute(delete(inbound_deliveries).where(inbound_deliveries.c.at < now - DELIVERY_MEMORY))

    # ---- daily caps ---------------------------------------------------------------------------
    def take_daily(self, kind: str, limits: Mapping[str, int]) -> bool:
        now = self._clock()
        with self._engine.begin() as conn:
            for key, limit in limits.items():
                used = conn.execute(
                    select(func.count())
                    .select_from(cap_uses)
                    .where(cap_uses.c.key == key, cap_uses.c.kind == kind, cap_uses.c.at >= now - CAP_WINDOW)
                ).scalar_one()
                if used >= limit:
                    return False
            if limits:
                conn.execute(insert(cap_uses), [{"kind": kind, "key": key, "at": now} for key in limits])
        return True

    # ---- what was asked -------------------------------------------------------------------
    def record_consultation(self, consultation: Consultation) -> None:
        values = {k: v for k, v in dataclasses.asdict(consultation).items() if k != "at"}
        with self._engine.begin() as conn:
            conn.execute(insert(consultations).values(at=consultation.at or self._clock(), **values))

    def record_unanswered(self, question: UnansweredQuestion) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(unanswered_questions).values(
                    at=question.at or self._clock(),
                    channel=question.channel,
                    text=scrub(question.text),  # kept for people to read: no phone, ID numbers, names
                    topic=question.topic,
                    reason=question.reason,
                    resolved_faq_id=question.resolved_faq_id,
                    sender_hash=question.sender_hash,
                )
            )

    def unanswered(self, limit: int = 1000) -> list[UnansweredQuestion]:
        with self._engine.connect() as conn:
            rows = (
                conn.execute(
                    select(unanswered_questions)
                    .where(unanswered_questions.c.resolved_faq_id.is_(None))
                    .order_by(unanswered_questions.c.id.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [
            UnansweredQuestion(
                r["channel"],
                r["text"],
                r["reason"],
                r["topic"],
                r["id"],
                r["at"],
                r["resolved_faq_id"],
                r["sender_hash"],
            )
            for r in rows
        ]

    def committee_schedule(self, committee_id: str) -> list[tuple[int, str, int]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(committee_schedules.c.weekday, committee_schedules.c.time, committee_schedules.c.capacity).where(
                    committee_schedules.c.committee_id == committee_id
                )
            ).all()
        return [(r.weekday, r.time, r.capacity) for r in rows]

    # ---- personal-information lifecycle -----------------------------------------------------
    def prune(self, cutoffs: RetentionCutoffs) -> dict[str, int]:
        closed = (escalations.c.status == "closed") & (escalations.c.closed_at < cutoffs.transcripts)
        finished = (
            select(applications.c.reference)
            .where(applications.c.status.in_(FINAL_APPLICATION_STATUSES), applications.c.updated_at < cutoffs.cases)
            .union_all(
                select(bookings.c.reference).where(
                    bookings.c.status.in_(FINAL_BOOKING_STATUSES), bookings.c.updated_at < cutoffs.cases
                )
            )
        )
        statements = {
            "conversation_messages": delete(conversation_messages).where(
                conversation_messages.c.escalation_id.in_(select(escalations.c.id).where(closed))
            ),
            "escalations": delete(escalations).where(closed),
            "case_events": delete(case_events).where(case_events.c.reference.in_(finished)),
            "legal_aid_applications": delete(applications).where(
                applications.c.status.in_(FINAL_APPLICATION_STATUSES), applications.c.updated_at < cutoffs.cases
            ),
            "mediation_bookings": delete(bookings).where(
                bookings.c.status.in_(FINAL_BOOKING_STATUSES), bookings.c.updated_at < cutoffs.cases
            ),
            "web_outbox": delete(web_outbox).where(web_outbox.c.created_at < cutoffs.outbox),
            "unanswered_questions": delete(unanswered_questions).where(unanswered_questions.c.at < cutoffs.unanswered),
            "consultations": delete(consultations).where(consultations.c.at < cutoffs.statistics),
            "inbound_deliveries": delete(inbound_deliveries).where(
                inbound_deliveries.c.at < self._clock() - DELIVERY_MEMORY
            ),
            "cap_uses": delete(cap_uses).where(cap_uses.c.at < self._clock() - CAP_MEMORY),
        }
        with self._engine.begin() as conn:
            return {table: conn.execute(statement).rowcount for table, statement in statements.items()}

    def senders_with_phone(self, phone: str) -> set[str]:
        with self._engine.connect() as conn:
            found = conn.execute(
                select(applications.c.sender_id)
                .where(applications.c.phone == phone)
                .union(select(bookings.c.sender_id).where(bookings.c.phone == phone))
            )
            return set(found.scalars())

    def erase(self, sender_ids: Collection[str], pseudonyms: Collection[str]) -> dict[str, int]:
        senders, hashes = list(sender_ids), list(pseudonyms)
        theirs = select(escalations.c.id).where(escalations.c.sender_id.in_(senders))
        cases = (
            select(applications.c.reference)
            .where(applications.c.sender_id.in_(senders))
            .union_all(select(bookings.c.reference).where(bookings.c.sender_id.in_(senders)))
        )
        with self._engine.begin() as conn:
            held = conn.execute(
                select(bookings.c.committee_id, bookings.c.slot_start).where(
                    bookings.c.sender_id.in_(senders),
                    bookings.c.status.in_((BookingStatus.BOOKED.value, BookingStatus.CONFIRMED.value)),
                )
            ).all()
            for slot in held:  # an erased booking no longer holds its place
                conn.execute(
                    update(slots)
                    .where(slots.c.committee_id == slot.committee_id, slots.c.slot_start == slot.slot_start)
                    .values(booked=slots.c.booked - 1)
                )
            statements = {
                "conversation_messages": delete(conversation_messages).where(
                    conversation_messages.c.escalation_id.in_(theirs)
                ),
                "escalations": delete(escalations).where(escalations.c.sender_id.in_(senders)),
                "case_events": delete(case_events).where(case_events.c.reference.in_(cases)),
                "legal_aid_applications": delete(applications).where(applications.c.sender_id.in_(senders)),
                "mediation_bookings": delete(bookings).where(bookings.c.sender_id.in_(senders)),
                "web_outbox": delete(web_outbox).where(web_outbox.c.sender_id.in_(senders)),
                "unanswered_questions": delete(unanswered_questions).where(
                    unanswered_questions.c.sender_hash.in_(hashes)
                ),
                "consultations": delete(consultations).where(consultations.c.sender_hash.in_(hashes)),
                "cap_uses": delete(cap_uses).where(cap_uses.c.key.in_(hashes)),
            }
            return {table: conn.execute(statement).rowcount for table, statement in statements.items()}
