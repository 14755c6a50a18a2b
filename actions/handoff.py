"""Hand-offs to people: human requests, emergencies, status checks, leaving a form."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, FollowupAction, SlotSet

from actions.base import LegalTriageAction
from bot.composition import Services
from bot.domain import STATUS_LABELS, Escalation, LegalAidApplication, MediationBooking
from bot.errors import DailyCapReachedError
from bot.privacy import log_event
from bot.services import caps
from bot.services.handoff import EMERGENCY, HandoffPolicy
from bot.wording import (
    EMERGENCY_ADVICE,
    ESCALATED,
    GO_ON,
    LEGAL_AID_APPLICATION,
    MEDIATION_BOOKING,
    NO_SUCH_REFERENCE,
    PRIVATE_STATUS,
    RESUMED,
    STATUS,
)

logger = logging.getLogger("bot.actions")
FORMS = {"legal_aid_form": "la_", "mediation_form": "md_"}
_REFERENCE = re.compile(r"(LA|MB)-\d{8}-\d{4}", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")


def collected(tracker: Tracker) -> dict[str, Any]:
    """Form data collected so far (for staff), so nothing the citizen said is lost."""
    return {
        k: v
        for k, v in tracker.current_slot_values().items()
        if k.startswith(("la_", "md_")) and v is not None and k not in ("md_offered",)
    }


def office_hours(services: Services) -> str:
    """When a person will answer, from the configured office hours (unknown until filled in)."""
    return HandoffPolicy.from_config(services.directory.config.get("handoff")).expectation(dt.datetime.now())


def leave_form(tracker: Tracker) -> list[dict]:
    return [ActiveLoop(None), SlotSet("requested_slot", None)] if tracker.active_loop_name else []


def hand_over(
    services: Services, tracker: Tracker, reason: str, priority: int, client: str | None = None
) -> list[dict]:
    """Queue the conversation for a person (once) and pause the bot until staff close it.

    ``client``: a new queue entry counts against that client's daily cap (bot/services/caps.py).
    Without one, as for emergencies, it is never capped.

    Raises:
        DailyCapReachedError: the client's cap refuses a new entry (nothing is queued).
    """
    if services.store.open_escalation(tracker.sender_id) is None:
        if client is not None and not services.caps.escalation(client):
            log_event(logger, "escalation_capped", tracker.sender_id)
            raise DailyCapReachedError()
        escalation = services.store.add_escalation(
            Escalation(
                sender_id=tracker.sender_id,
                reason=reason,
                priority=priority,
                topic=tracker.get_slot("topic"),
                town=tracker.get_slot("la_town") or tracker.get_slot("md_town"),
                context=collected(tracker),
            )
        )
        log_event(logger, "escalate", tracker.sender_id, reason=reason, escalation=escalation.id)
    return [*leave_form(tracker), ConversationPaused()]


class ActionEscalate(LegalTriageAction):
    def name(self) -> str:
        return "action_escalate"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        reason = "fallback" if tracker.latest_message.get("intent", {}).get("name") == "nlu_fallback" else "request"
        try:
            events = hand_over(
                services, tracker, reason, priority=1, client=caps.client_of(tracker.sender_id, tracker.events)
            )
        except DailyCapReachedError:
            dispatcher.utter_message(response="utter_escalations_capped")
            return leave_form(tracker)
        if reason == "fallback":  # the bot did not understand: keep the question for the FAQ writers
            text = tracker.latest_message.get("text") or ""
            services.consultations.unanswered(tracker.sender_id, text, "fallback", tracker.get_slot("topic"))
        dispatcher.utter_message(text=ESCALATED.format(expectation=office_hours(services)))
        return events


class ActionHandleEmergency(LegalTriageAction):
    def name(self) -> str:
        return "action_handle_emergency"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        # Safety first: the hotlines go out before anything else can fail.
        dispatcher.utter_message(text=EMERGENCY_ADVICE)
        log_event(logger, "emergency", tracker.sender_id)
        return hand_over(services, tracker, "emergency", priority=0)


class ActionOutOfScope(LegalTriageAction):
    """Not a legal question - unless it carries danger words: a danger the NLU did not recognise
    still gets the emergency handling rather than "这个问题我帮不上忙"."""

    def name(self) -> str:
        return "action_out_of_scope"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        if EMERGENCY.search(tracker.latest_message.get("text") or ""):
            return ActionHandleEmergency().act(dispatcher, tracker, domain, services)
        dispatcher.utter_message(response="utter_out_of_scope")
        return []


def may_see_status(record: LegalAidApplication | MediationBooking, sender_id: str, text: str) -> bool:
    """Whether this conversation may hear the record's status: it submitted the record, or ``text``
    also carries the last four digits of the phone number given in it (the whole number will do)."""
    if record.sender_id == sender_id:
        return True
    phone = "".join(_DIGITS.findall(record.phone or ""))
    given = _DIGITS.findall(_REFERENCE.sub(" ", text))  # the reference's own digits do not count
    return len(phone) >= 4 and any(digits in (phone[-4:], phone) for digits in given)


class ActionCheckStatus(LegalTriageAction):
    def name(self) -> str:
        return "action_check_status"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        text = tracker.latest_message.get("text") or ""
        match = _REFERENCE.search(tracker.get_slot("reference") or "") or _REFERENCE.search(text)
        if not match:
            dispatcher.utter_message(response="utter_ask_reference")
            return []
        reference = match.group(0).upper()
        record = services.store.find(reference)
        allowed = record is not None and may_see_status(record, tracker.sender_id, text)
        log_event(logger, "status", tracker.sender_id, found=record is not None, allowed=allowed)
        if record is None:
            dispatcher.utter_message(text=NO_SUCH_REFERENCE.format(reference=reference))
        elif not allowed:
            dispatcher.utter_message(text=PRIVATE_STATUS.format(reference=reference))
        else:
            kind = LEGAL_AID_APPLICATION if isinstance(record, LegalAidApplication) else MEDIATION_BOOKING
            dispatcher.utter_message(
                text=STATUS.format(kind=kind, reference=reference, status=STATUS_LABELS[record.status.value])
            )
        return [SlotSet("reference", None)]


class ActionRequestCancel(LegalTriageAction):
    def name(self) -> str:
        return "action_request_cancel"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        dispatcher.utter_message(response="utter_ask_confirm_cancel")
        return [SlotSet("paused_form", tracker.active_loop_name), *leave_form(tracker)]


class ActionCancelForm(LegalTriageAction):
    def name(self) -> str:
        return "action_cancel_form"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        dispatcher.utter_message(response="utter_cancelled")
        return [SlotSet("paused_form", None)]


class ActionResumeForm(LegalTriageAction):
    def name(self) -> str:
        return "action_resume_form"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        form = tracker.get_slot("paused_form")
        if form not in FORMS:
            dispatcher.utter_message(text=GO_ON)
            return []
        dispatcher.utter_message(text=RESUMED)
        return [SlotSet("paused_form", None), FollowupAction(form)]
