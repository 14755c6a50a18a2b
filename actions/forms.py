"""The legal-aid intake and mediation booking forms: validation, questions, submission."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import LegalTriageAction, button, failed, option_buttons
from bot.composition import Services, get_services
from bot.domain import LegalAidApplication, MediationBooking
from bot.errors import SlotUnavailableError, StorageUnavailableError
from bot.privacy import log_event
from bot.services import caps, intake, mediation
from bot.services.eligibility import MATTERS, matter_from_text
from bot.services.validation import clean_text, parse_name, parse_phone
from bot.wording import (
    CHOOSE_SLOT,
    CHOOSE_WISHED_SLOT,
    MATTER_OUT_OF_SCOPE,
    NO_DEADLINE,
    NOT_SAVED,
    SLOT_TAKEN,
    START_AGAIN,
)

logger = logging.getLogger("bot.actions")
UNKNOWN_WORDS = ("不知道", "不清楚", "没有", "冇得", "无", "不记得", "跳过")
CONFIRM_BUTTONS = [button("对，提交", "/affirm"), button("不对，重填", "/deny")]
LA_SLOTS = [
    "la_matter",
    "la_consent",
    "la_name",
    "la_phone",
    "la_town",
    "la_village",
    "la_opponent",
    "la_facts",
    "la_deadline",
    "la_economic",
    "la_confirm",
]
MD_SLOTS = [
    "md_dispute_type",
    "md_consent",
    "md_parties",
    "md_town",
    "md_village",
    "md_facts",
    "md_name",
    "md_phone",
    "md_slot",
    "md_offered",
    "md_confirm",
]


def _optional(value: Any) -> str | None:
    text = clean_text(str(value or ""), 200)
    return None if not text or any(text.startswith(w) for w in UNKNOWN_WORDS) else text


class _Validators:
    """Validators shared by both forms (a mixin; rasa-sdk never instantiates it alone)."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict]:
        # Same contract as LegalTriageAction: a failure becomes a polite reply, never silence.
        try:
            return await super().run(dispatcher, tracker, domain)
        except Exception as exc:  # noqa: BLE001 - any failure becomes the polite error reply
            return failed(self.name(), dispatcher, exc)

    def _consent(self, value: Any, slot: str) -> dict:
        """The citizen's yes before any personal information is asked (PIPL art. 14, 29). A no
        ends the form (requested_slot None): its submission then says nothing is registered."""
        return {slot: True} if value is True else {slot: False, "requested_slot": None}

    def _name(self, value: Any, dispatcher: CollectingDispatcher, slot: str, tracker: Tracker) -> dict:
        # The entity extractor sometimes takes part of a name ("周" of "我叫周卫东", "桂兰" of "刘桂兰"):
        # the whole message, when it is a name holding the entity, wins.
        entity = str(value or "")
        whole = parse_name(tracker.latest_message.get("text") or "")
        name = whole if whole and entity in whole else parse_name(entity)
        if name is None:
            dispatcher.utter_message(response="utter_invalid_name")
        return {slot: name}

    def _phone(self, value: Any, dispatcher: CollectingDispatcher, slot: str) -> dict:
        phone = parse_phone(str(value or ""))
        if phone is None:
            dispatcher.utter_message(response="utter_invalid_phone")
        return {slot: phone}

    def _town(
        self, value: Any, dispatcher: CollectingDispatcher, slot: str, village_slot: str, tracker: Tracker
    ) -> dict:
        directory = get_services().directory
        town = directory.find_town(str(value or ""))
        if town is None:
            dispatcher.utter_message(response="utter_invalid_town")
            return {slot: None}
        village = directory.find_village(town, tracker.latest_message.get("text") or "")
        return {slot: town.name, **({village_slot: village} if village else {})}

    def _village(self, value: Any, slot: str, town_slot: str, tracker: Tracker) -> dict:
        directory = get_services().directory
        town = next((t for t in directory.towns if t.name == tracker.get_slot(town_slot)), None)
        found = directory.find_village(town, str(value or "")) if town else None
        return {slot: found or _optional(value) or intake.NOT_GIVEN}

    def _text(self, value: Any, slot: str, limit: int = 500) -> dict:
        return {slot: clean_text(str(value or ""), limit)}


class ValidateLegalAidForm(_Validators, FormValidationAction):
    def name(self) -> str:
        return "validate_legal_aid_form"

    def validate_la_matter(self, value, dispatcher, tracker, domain) -> dict:
        matter = matter_from_text(str(value or ""))
        if matter is None:
            dispatcher.utter_message(response="utter_invalid_matter")
            return {"la_matter": None}
        if not matter.in_scope:
            dispatcher.utter_message(text=MATTER_OUT_OF_SCOPE)
        return {"la_matter": matter.key}

    def validate_la_consent(self, value, dispatcher, tracker, domain) -> dict:
        return self._consent(value, "la_consent")

    def validate_la_name(self, value, dispatcher, tracker, domain) -> dict:
        return self._name(value, dispatcher, "la_name", tracker)

    def validate_la_phone(self, value, dispatcher, tracker, domain) -> dict:
        return self._phone(value, dispatcher, "la_phone")

    def validate_la_town(self, value, dispatcher, tracker, domain) -> dict:
        return self._town(value, dispatcher, "la_town", "la_village", tracker)

    def validate_la_village(self, value, dispatcher, tracker, domain) -> dict:
        return self._village(value, "la_village", "la_town", tracker)

    def validate_la_opponent(self, value, dispatcher, tracker, domain) -> dict:
        return self._text(value, "la_opponent", 200)

    def validate_la_facts(self, value, dispatcher, tracker, domain) -> dict:
        return self._text(value, "la_facts")

    def validate_la_deadline(self, value, dispatcher, tracker, domain) -> dict:
        return {"la_deadline": _optional(value) or NO_DEADLINE}

    def validate_la_economic(self, value, dispatcher, tracker, domain) -> dict:
        return self._text(value, "la_economic", 200)

    def validate_la_confirm(self, value, dispatcher, tracker, domain) -> dict:
        if value is False:  # start again from the name; the matter stays
            dispatcher.utter_message(text=START_AGAIN)
            return {slot: None for slot in LA_SLOTS if slot not in ("la_matter", "la_consent")}
        return {"la_confirm": value}


class ValidateMediationForm(_Validators, FormValidationAction):
    def name(self) -> str:
        return "validate_mediation_form"

    def validate_md_dispute_type(self, value, dispatcher, tracker, domain) -> dict:
        kind = mediation.dispute_type_from_text(str(value or ""))
        if kind is None:
            dispatcher.utter_message(response="utter_invalid_matter")
        return {"md_dispute_type": kind}

    def validate_md_consent(self, value, dispatcher, tracker, domain) -> dict:
        return self._consent(value, "md_consent")

    def validate_md_parties(self, value, dispatcher, tracker, domain) -> dict:
        return self._text(value, "md_parties", 200)

    def validate_md_town(self, value, dispatcher, tracker, domain) -> dict:
        return self._town(value, dispatcher, "md_town", "md_village", tracker)

    def validate_md_village(self, value, dispatcher, tracker, domain) -> dict:
        return self._village(value, "md_village", "md_town", tracker)

    def validate_md_facts(self, value, dispatcher, tracker, domain) -> dict:
        return self._text(value, "md_facts")

    def validate_md_name(self, value, dispatcher, tracker, domain) -> dict:
        return self._name(value, dispatcher, "md_name", tracker)

    def validate_md_phone(self, value, dispatcher, tracker, domain) -> dict:
        return self._phone(value, dispatcher, "md_phone")

    def validate_md_slot(self, value, dispatcher, tracker, domain) -> dict:
        offered = tracker.get_slot("md_offered") or []
        choice = str(value or "").strip()
        if choice.isdigit() and 1 <= int(choice) <= len(offered):
            return {"md_slot": offered[int(choice) - 1]}
        if choice in offered:
            return {"md_slot": choice}
        dispatcher.utter_message(response="utter_invalid_slot")
        return {"md_slot": None}

    def validate_md_confirm(self, value, dispatcher, tracker, domain) -> dict:
        if value is False:
            dispatcher.utter_message(text=START_AGAIN)
            return {slot: None for slot in MD_SLOTS if slot not in ("md_dispute_type", "md_consent")}
        return {"md_confirm": value}


def _village(tracker: Tracker, slot: str) -> str | None:
    value = tracker.get_slot(slot)
    return None if value == intake.NOT_GIVEN else value


def _application(tracker: Tracker) -> LegalAidApplication:
    s = tracker.get_slot
    return intake.application(
        tracker.sender_id,
        matter=s("la_matter"),
        name=s("la_name"),
        phone=s("la_phone"),
        town=s("la_town"),
        village=_village(tracker, "la_village"),
        opponent=s("la_opponent"),
        facts=s("la_facts"),
        deadline=s("la_deadline"),
        economic_status=s("la_economic"),
    )


def _booking(tracker: Tracker, services: Services) -> MediationBooking:
    s = tracker.get_slot
    return mediation.booking(
        services.directory,
        tracker.sender_id,
        dispute_type=s("md_dispute_type"),
        parties=s("md_parties"),
        town=s("md_town"),
        village=_village(tracker, "md_village"),
        facts=s("md_facts"),
        name=s("md_name"),
        phone=s("md_phone"),
        slot_start=dt.datetime.fromisoformat(s("md_slot")),
    )


class ActionAskLaMatter(LegalTriageAction):
    def name(self) -> str:
        return "action_ask_la_matter"

    def act(self, dispatcher, tracker, domain, services: Services) -> list[dict]:
        dispatcher.utter_message(response="utter_ask_la_matter", buttons=option_buttons([m.label for m in MATTERS]))
        return []


class ActionAskLaConfirm(LegalTriageAction):
    def name(self) -> str:
        return "action_ask_la_confirm"

    def act(self, dispatcher, tracker, domain, services: Services) -> list[dict]:
        dispatcher.utter_message(text=intake.read_back(_application(tracker)), buttons=CONFIRM_BUTTONS)
        return []


def _not_saved(dispatcher: CollectingDispatcher, tracker: Tracker, confirm_slot: str, form: str) -> list[dict]:
    """The database is down or full: keep every answer and ask for the confirmation again."""
    log_event(logger, "submission_not_saved", tracker.sender_id, form=form)
    dispatcher.utter_message(text=NOT_SAVED)
    return [SlotSet(confirm_slot, None), FollowupAction(form)]


def _not_submitted(
    dispatcher: CollectingDispatcher, tracker: Tracker, services: Services, prefix: str
) -> list[dict] | None:
    """Why this form is not submitted, said and acted on; None when it may be.

    Without the citizen's yes nothing is stored, and every answer is dropped. Over a daily cap the
    answers stay (the form asks only for the confirmation next time).
    """
    slots = LA_SLOTS if prefix == "la_" else MD_SLOTS
    if tracker.get_slot(f"{prefix}consent") is not True:
        dispatcher.utter_message(response="utter_no_consent")
        return [SlotSet(slot, None) for slot in slots]
    phone = tracker.get_slot(f"{prefix}phone")
    if not services.caps.submission(phone, caps.client_of(tracker.sender_id, tracker.events)):
        log_event(logger, "submission_capped", tracker.sender_id, form=prefix)
        dispatcher.utter_message(response="utter_submissions_capped")
        return [SlotSet(f"{prefix}confirm", None)]
    return None


class ActionSubmitLegalAid(LegalTriageAction):
    def name(self) -> str:
        return "action_submit_legal_aid"

    def act(self, dispatcher, tracker, domain, services: Services) -> list[dict]:
        try:
            if (refused := _not_submitted(dispatcher, tracker, services, "la_")) is not None:
                return refused
            application = intake.submit(services.store, _application(tracker))
        except StorageUnavailableError:
            return _not_saved(dispatcher, tracker, "la_confirm", "legal_aid_form")
        log_event(logger, "legal_aid_submitted", tracker.sender_id, reference=application.reference)
        dispatcher.utter_message(text=intake.confirmation_text(application, services.directory))
        # The application is queued for staff (intake.submit); a person takes the conversation from here.
        return [*(SlotSet(slot, None) for slot in LA_SLOTS), ConversationPaused()]


class ActionAskMdDisputeType(LegalTriageAction):
    def name(self) -> str:
        return "action_ask_md_dispute_type"

    def act(self, dispatcher, tracker, domain, services: Services) -> list[dict]:
        dispatcher.utter_message(
            response="utter_ask_md_dispute_type", buttons=option_buttons(list(mediation.DISPUTE_TYPES))
        )
        return []


class ActionAskMdSlot(LegalTriageAction):
    def name(self) -> str:
        return "action_ask_md_slot"

    def act(self, dispatcher, tracker, domain, services: Services) -> list[dict]:
        committee = services.directory.committee_for(tracker.get_slot("md_dispute_type"), tracker.get_slot("md_town"))
        starts = mediation.free_slots(services.store, services.directory, committee, dt.datetime.now())
        if not starts:
            dispatcher.utter_message(response="utter_no_slots")
            return []
        dispatcher.utter_message(
            text=(CHOOSE_SLOT if services.directory.schedule.confirmed else CHOOSE_WISHED_SLOT).format(
                committee=committee.name
            ),
            buttons=option_buttons([mediation.slot_label(s) for s in starts]),
        )
        return [SlotSet("md_offered", [s.isoformat() for s in starts])]


class ActionAskMdConfirm(LegalTriageAction):
    def name(self) -> str:
        return "action_ask_md_confirm"

    def act(self, dispatcher, tracker, domain, services: Services) -> list[dict]:
        booking = _booking(tracker, services)
        committee = services.directory.committee_for(booking.dispute_type, booking.town)
        dispatcher.utter_message(
            text=mediation.read_back(booking, committee, services.directory.schedule.confirmed), buttons=CONFIRM_BUTTONS
        )
        return []


class ActionSubmitMediation(LegalTriageAction):
    def name(self) -> str:
        return "action_submit_mediation"

    def act(self, dispatcher, tracker, domain, services: Services) -> list[dict]:
        try:
            if (refused := _not_submitted(dispatcher, tracker, services, "md_")) is not None:
                return refused
            booking = mediation.book(services.store, services.directory, _booking(tracker, services))
        except StorageUnavailableError:
            return _not_saved(dispatcher, tracker, "md_confirm", "mediation_form")
        except SlotUnavailableError:
            dispatcher.utter_message(text=SLOT_TAKEN)
            return [
                SlotSet("md_slot", None),
                SlotSet("md_confirm", None),
                SlotSet("md_offered", None),
                FollowupAction("mediation_form"),
            ]
        committee = services.directory.committee_for(booking.dispute_type, booking.town)
        log_event(logger, "mediation_booked", tracker.sender_id, reference=booking.reference)
        dispatcher.utter_message(
            text=mediation.confirmation_text(booking, committee, services.directory.schedule.confirmed)
        )
        # The booking is queued for the committee (mediation.book); a person takes it from here.
        return [*(SlotSet(slot, None) for slot in MD_SLOTS), ConversationPaused()]
