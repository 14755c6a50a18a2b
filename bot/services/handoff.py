"""Human handoff: while a person has (or will have) the conversation, the bot keeps quiet.

The action that escalates pauses the Rasa conversation and opens an escalation. From then on the
channel gateway records what the citizen writes in the escalation's transcript; the citizen is
told once that a person will reply, with the office hours. Staff claim, reply (through the one
outbound interface, whatever the channel) and close; closing resumes the Rasa conversation and the
bot says it is back. A watcher tells citizens nobody has picked up within the configured time.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.domain import ConversationMessage, Escalation, MediationBooking
from bot.errors import LegalTriageError, NotFoundError
from bot.privacy import log_event
from bot.rasa_client import BotMessage
from bot.services.outbound import Outbound, channel_of
from bot.storage.port import CaseStore
from bot.wording import (
    CLAIMED_NOTICE,
    CLOSED_NOTICE,
    EMERGENCY_NOTICE,
    EXPECT_IN_HOURS,
    EXPECT_LATER,
    EXPECT_SOON,
    HOURS_UNKNOWN,
    NEXT_WORKDAY,
    OFFICE_HOURS,
    OPENING,
    OVERDUE_NOTICE,
    WAITING_NOTICE,
    WEEKDAY,
    WEEKDAY_NAMES,
    WEEKDAY_SEPARATOR,
    WEEKDAY_SPAN,
)

logger = logging.getLogger("bot.services.handoff")
TO_FILL = "待填写"
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _id(escalation: Escalation) -> int:
    """A stored escalation's id (the store sets it)."""
    if escalation.id is None:
        raise NotFoundError("the escalation was never stored")
    return escalation.id


class ConflictError(LegalTriageError):
    default_message = "the conversation is not in a state that allows this"


class BlankTextError(LegalTriageError):
    default_message = "text must not be blank"  # it would reach the citizen as an empty message


@dataclass(frozen=True)
class OfficeHours:
    """When staff answer the queue. Unknown (``待填写`` in the directory) until the bureau fills it in."""

    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    start: dt.time | None = None
    end: dt.time | None = None

    @classmethod
    def from_config(cls, raw: dict | None) -> OfficeHours:
        raw = raw or {}

        def parse(value) -> dt.time | None:
            match = _HHMM.match(str(value or "").strip())
            return dt.time(int(match.group(1)), int(match.group(2))) if match else None

        return cls(
            tuple(int(d) for d in raw.get("weekdays", (0, 1, 2, 3, 4))), parse(raw.get("start")), parse(raw.get("end"))
        )

    @property
    def known(self) -> bool:
        return self.start is not None and self.end is not None and bool(self.weekdays)

    def is_open(self, now: dt.datetime) -> bool | None:
        if not self.known or self.start is None or self.end is None:  # (known: both set; for the type checker)
            return None
        return now.weekday() in self.weekdays and self.start <= now.time() < self.end

    def next_opening(self, now: dt.datetime) -> dt.datetime | None:
        if not self.known or self.start is None or self.is_open(now):
            return None
        for days in range(8):
            day = now.date() + dt.timedelta(days=days)
            opening = dt.datetime.combine(day, self.start)
            if day.weekday() in self.weekdays and opening > now:
                return opening
        return None

    def describe(self) -> str:
        if not self.known:
            return HOURS_UNKNOWN
        days = sorted(self.weekdays)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            span = WEEKDAY_SPAN.format(first=WEEKDAY_NAMES[days[0]], last=WEEKDAY_NAMES[days[-1]])
        else:
            span = WEEKDAY_SEPARATOR.join(WEEKDAY.format(day=WEEKDAY_NAMES[d]) for d in days)
        return OFFICE_HOURS.format(days=span, start=f"{self.start:%H:%M}", end=f"{self.end:%H:%M}")


@dataclass(frozen=True)
class HandoffPolicy:
    hours: OfficeHours = OfficeHours()
    pickup_seconds: int = 600

    @classmethod
    def from_config(cls, raw: dict | None, pickup_seconds: int | None = None) -> HandoffPolicy:
        raw = raw or {}
        seconds = pickup_seconds if pickup_seconds is not None else int(raw.get("pickup_minutes", 10)) * 60
        return cls(OfficeHours.from_config(raw.get("office_hours")), seconds)

    def expectation(self, now: dt.datetime) -> str:
        """When the citizen can expect a person, in words."""
        state = self.hours.is_open(now)
        if state is None:
            return EXPECT_IN_HOURS
        if state:
            return EXPECT_SOON
        opening = self.hours.next_opening(now)
        when = (
            OPENING.format(month=opening.month, day=opening.day, time=f"{opening:%H:%M}") if opening else NEXT_WORKDAY
        )
        return EXPECT_LATER.format(hours=self.hours.describe(), when=when)


class RasaControl(Protocol):
    async def resume(self, sender_id: str) -> None:
        """Un-pause the citizen's Rasa conversation."""


def waiting_notice(policy: HandoffPolicy, now: dt.datetime) -> str:
    return WAITING_NOTICE.format(expectation=policy.expectation(now))


def overdue_notice(policy: HandoffPolicy, now: dt.datetime) -> str:
    return OVERDUE_NOTICE.format(expectation=policy.expectation(now))


#: Danger words. They get the hotlines at once while the bot is paused (it cannot recognise an
#: emergency then), and when the NLU took the message for one out of scope.
EMERGENCY = re.compile(
    r"救命|救救|打我|砍我|杀我|弄死|要杀|拿刀|砸门|不想活|想死|自杀|轻生|跳河|跳楼|喝药|农药|安眠药"
    r"|叫不醒|昏迷|不省人事|没有呼吸|没气了"
)


class Handoff:
    """The handoff use case, shared by every channel and by the staff API."""

    def __init__(
        self,
        store: CaseStore,
        outbound: Outbound,
        rasa: RasaControl,
        policy: HandoffPolicy,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.store = store
        self.outbound = outbound
        self.rasa = rasa
        self.policy = policy
        self._clock = clock

    # ---- the citizen's side ---------------------------------------------------------------
    def open_for(self, sender_id: str) -> Escalation | None:
        return self.store.open_escalation(sender_id)

    def citizen_message(self, escalation: Escalation, text: str) -> list[BotMessage]:
        """Record what the citizen wrote while a person has the conversation; tell them once."""
        escalation_id = _id(escalation)
        self.store.add_message(ConversationMessage(escalation_id, "citizen", text))
        if EMERGENCY.search(text):
            self.store.prioritise_escalation(escalation_id)
            self.store.add_message(ConversationMessage(escalation_id, "system", EMERGENCY_NOTICE))
            log_event(logger, "emergency", escalation.sender_id, escalation=escalation_id, during="handoff")
            return [BotMessage(EMERGENCY_NOTICE)]
        if escalation.status == "waiting" and self.store.mark_escalation(escalation_id, "notified_at"):
            notice = waiting_notice(self.policy, self._clock())
            self.store.add_message(ConversationMessage(escalation_id, "system", notice))
            return [BotMessage(notice)]
        return []

    # ---- the staff side -------------------------------------------------------------------
    def get(self, escalation_id: int) -> Escalation:
        escalation = self.store.get_escalation(escalation_id)
        if escalation is None:
            raise NotFoundError(f"no conversation {escalation_id}")
        return escalation

    def visible(self, escalation: Escalation, scope: tuple[str, ...] | None) -> bool:
        """Whether a user whose committee ``scope`` is given (None: every escalation) may see ``escalation``.

        A mediator sees only the escalations that queue a mediation booking of one of their committees
        (the console's rule for bookings); a legal-aid intake, another committee's booking, or a
        conversation with no booking behind it is not theirs.
        """
        if scope is None:
            return True
        if escalation.context.get("kind") != "mediation":
            return False
        case = self.store.find(str(escalation.context.get("reference") or ""))
        return isinstance(case, MediationBooking) and case.committee_id in scope

    def get_for(self, escalation_id: int, scope: tuple[str, ...] | None) -> Escalation:
        """``get`` for a user with a committee ``scope``: NotFoundError also when it is not theirs to see."""
        escalation = self.get(escalation_id)
        if not self.visible(escalation, scope):
            raise NotFoundError(f"no conversation {escalation_id}")
        return escalation

    async def claim(self, escalation_id: int, staff: str) -> Escalation:
        if not self.store.claim_escalation(escalation_id, staff):
            current = self.get(escalation_id)
            if current.assignee == staff and current.status == "claimed":
                return current
            raise ConflictError(
                f"conversation {escalation_id} is {current.status}"
                + (f" by {current.assignee}" if current.assignee else "")
            )
        escalation = self.get(escalation_id)
        await self._say(escalation, CLAIMED_NOTICE, "system")
        log_event(logger, "claim", escalation.sender_id, escalation=escalation_id)
        return escalation

    async def reply(self, escalation_id: int, staff: str, text: str) -> ConversationMessage:
        if not text.strip():
            raise BlankTextError()
        escalation = self.get(escalation_id)
        if escalation.status != "claimed" or escalation.assignee != staff:
            raise ConflictError("claim the conversation before replying")
        message = await self._say(escalation, text, "staff", staff)
        log_event(logger, "staff_reply", escalation.sender_id, escalation=escalation_id)
        return message

    async def close(self, escalation_id: int, staff: str) -> Escalation:
        escalation = self.get(escalation_id)
        if escalation.status == "closed":
            return escalation
        if escalation.status == "claimed" and escalation.assignee != staff:
            raise ConflictError(f"conversation {escalation_id} is claimed by {escalation.assignee}")
        self.store.close_escalation(escalation_id, staff)
        await self.rasa.resume(escalation.sender_id)
        await self._say(escalation, CLOSED_NOTICE, "system")
        log_event(logger, "close", escalation.sender_id, escalation=escalation_id)
        return self.get(escalation_id)

    def note(self, escalation_id: int, staff: str, text: str) -> ConversationMessage:
        """An internal note for colleagues; never sent to the citizen."""
        if not text.strip():
            raise BlankTextError()
        escalation = self.get(escalation_id)
        return self.store.add_message(ConversationMessage(_id(escalation), "note", text, staff))

    def transcript(self, escalation_id: int) -> list[ConversationMessage]:
        return self.store.messages(escalation_id)

    # ---- the watcher ----------------------------------------------------------------------
    async def remind_overdue(self) -> int:
        """Tell citizens whose request nobody picked up in time when to expect an answer (once)."""
        now = self._clock()
        told = 0
        for escalation in self.store.escalations("waiting"):
            waited = (now - escalation.created_at).total_seconds() if escalation.created_at else 0
            if waited < self.policy.pickup_seconds:
                continue
            if self.store.mark_escalation(_id(escalation), "overdue_notified_at"):
                await self._say(escalation, overdue_notice(self.policy, now), "system")
                told += 1
        return told

    async def _say(
        self, escalation: Escalation, text: str, author: str, staff: str | None = None
    ) -> ConversationMessage:
        message = self.store.add_message(ConversationMessage(_id(escalation), author, text, staff))
        try:
            await self.outbound.send(escalation.sender_id, [BotMessage(text)])
        except LegalTriageError as exc:  # kept in the transcript; staff see it was not delivered
            log_event(
                logger,
                "delivery_failed",
                escalation.sender_id,
                channel=channel_of(escalation.sender_id),
                error=type(exc).__name__,
            )
        return message
