"""Answering legal questions: FAQ answers, suggestions, legal basis, numbered choices."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import OFFER_BUTTONS, LegalTriageAction, option_buttons
from bot.composition import Services
from bot.domain import AnswerKind, FaqEntry
from bot.privacy import log_event
from bot.services.answering import FACT_TITLES, offers_for_topic
from bot.wording import (
    ARTICLE,
    ASK_BEFORE_BASIS,
    ASK_DETAILS,
    ASK_QUESTION,
    DID_YOU_MEAN,
    FAQ_ANSWER,
    FOLLOW_UP_FACT,
    FOLLOW_UP_SOURCE,
    FOLLOW_UP_THIS,
    FOLLOW_UP_UNKNOWN,
    NO_ANSWER_HANDOFF,
    RELATED_ARTICLES,
    RELATED_HANDOFF,
    WHICH_TOPIC,
)

logger = logging.getLogger("bot.actions")


#: A message at least this long already tells its story: asking for more details would not help.
LONG_QUESTION_CHARS = 30


def town(tracker: Tracker) -> str | None:
    return tracker.get_slot("la_town") or tracker.get_slot("md_town")


def record(services: Services, tracker: Tracker, kind: str, topic: str | None, faq_id: str | None = None) -> None:
    services.consultations.count(tracker.sender_id, kind, topic, faq_id, town=town(tracker))


def faq_message(entry: FaqEntry) -> str:
    basis = "、".join(c.label for c in entry.citations)
    return FAQ_ANSWER.format(answer=entry.answer, basis=basis)


#: The buttons of a handoff: a person, or go on asking.
HANDOFF_OFFERS = ("request_human", "continue_asking")


def offer_buttons(offers) -> list[dict]:
    return [OFFER_BUTTONS[o] for o in offers]


def utter_articles(dispatcher: CollectingDispatcher, articles) -> None:
    for article in articles:
        dispatcher.utter_message(text=ARTICLE.format(label=article.label, text=article.text))


def utter_entry(dispatcher: CollectingDispatcher, entry: FaqEntry, offers: tuple[str, ...]) -> list[dict]:
    dispatcher.utter_message(text=faq_message(entry), buttons=offer_buttons(offers))
    return [SlotSet("last_faq_id", entry.id), SlotSet("topic", entry.topic), SlotSet("clarify_count", 0)]


class ActionAnswerQuestion(LegalTriageAction):
    def name(self) -> str:
        return "action_answer_question"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        text = tracker.latest_message.get("text") or ""
        answer = services.qa.answer(text)
        top = answer.hits[0] if answer.hits else None
        log_event(
            logger,
            "answer",
            tracker.sender_id,
            kind=answer.kind.value,
            topic=answer.topic.best.label if answer.topic else None,
            topic_score=round(answer.topic.best.score, 3) if answer.topic else None,
            faq=top.entry.id if top else None,
            score=round(top.score, 3) if top else None,
        )
        topic_events = [SlotSet("topic", answer.topic.best.label)] if answer.topic else []
        services.consultations.answered(tracker.sender_id, text, answer, town(tracker))
        if answer.articles:
            utter_articles(dispatcher, answer.articles)
            return topic_events
        if answer.kind is AnswerKind.CONFIDENT:
            return utter_entry(dispatcher, top.entry, answer.offers)
        if answer.kind is AnswerKind.SUGGEST:
            entries = [h.entry for h in answer.hits]
            dispatcher.utter_message(text=DID_YOU_MEAN, buttons=option_buttons([e.question for e in entries]))
            return [*topic_events, SlotSet("offered_faq_ids", [e.id for e in entries])]
        handoff_buttons = offer_buttons(HANDOFF_OFFERS)
        if answer.related:
            dispatcher.utter_message(text=RELATED_ARTICLES)
            utter_articles(dispatcher, answer.related)
            dispatcher.utter_message(text=RELATED_HANDOFF, buttons=handoff_buttons)
            return [*topic_events, SlotSet("clarify_count", 0)]
        clarified = (tracker.get_slot("clarify_count") or 0) >= 1
        if not clarified and len(text.strip()) < LONG_QUESTION_CHARS:
            hint = ""
            if answer.topic and not answer.topic.confident:
                first, second = answer.topic.scores[0].label, answer.topic.scores[1].label
                hint = WHICH_TOPIC.format(first=first, second=second)
            dispatcher.utter_message(text=ASK_DETAILS.format(hint=hint))
            return [*topic_events, SlotSet("clarify_count", 1)]
        dispatcher.utter_message(text=NO_ANSWER_HANDOFF, buttons=handoff_buttons)
        return [*topic_events, SlotSet("clarify_count", 0)]


class ActionAnswerFollowup(LegalTriageAction):
    """ "那需要什么材料", "去哪里办", "那如果对方不同意呢" after an answer: answered from that answer."""

    def name(self) -> str:
        return "action_answer_followup"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        text = tracker.latest_message.get("text") or ""
        follow = services.qa.follow_up(text, tracker.get_slot("last_faq_id"))
        if follow is None:  # nothing was answered yet: it is a question of its own
            return ActionAnswerQuestion().act(dispatcher, tracker, domain, services)
        log_event(
            logger,
            "follow_up",
            tracker.sender_id,
            about=follow.about.id,
            fact=follow.fact,
            entry=follow.entry.id if follow.entry else None,
        )
        if follow.fact_text and follow.fact:
            source = (
                "" if follow.entry in (None, follow.about) else FOLLOW_UP_SOURCE.format(question=follow.entry.question)
            )
            dispatcher.utter_message(
                text=FOLLOW_UP_FACT.format(
                    about=follow.about.question, fact=FACT_TITLES[follow.fact], source=source, text=follow.fact_text
                ),
                buttons=offer_buttons(offers_for_topic(follow.about.topic)),
            )
            record(services, tracker, "follow_up", follow.about.topic, (follow.entry or follow.about).id)
            return []
        if follow.entry is not None and follow.entry != follow.about and not follow.fact:
            record(services, tracker, "follow_up", follow.entry.topic, follow.entry.id)
            return utter_entry(dispatcher, follow.entry, offers_for_topic(follow.entry.topic))
        what = FACT_TITLES[follow.fact] if follow.fact else FOLLOW_UP_THIS
        dispatcher.utter_message(
            text=FOLLOW_UP_UNKNOWN.format(about=follow.about.question, what=what),
            buttons=offer_buttons(HANDOFF_OFFERS),
        )
        record(services, tracker, "none", follow.about.topic)
        return []


class ActionChooseOption(LegalTriageAction):
    def name(self) -> str:
        return "action_choose_option"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        offered = tracker.get_slot("offered_faq_ids") or []
        option = str(tracker.get_slot("option") or "").strip()
        index = int(option) - 1 if option.isdigit() else -1
        entry = services.retriever.get(offered[index]) if 0 <= index < len(offered) else None
        if entry is None:
            text = (tracker.latest_message.get("text") or "").strip()
            if text and not text.isdigit():  # a question with a number in it ("民法典第一千零七十九条")
                return [*ActionAnswerQuestion().act(dispatcher, tracker, domain, services), SlotSet("option", None)]
            dispatcher.utter_message(text=ASK_QUESTION)
            return [SlotSet("option", None)]
        log_event(logger, "choose", tracker.sender_id, faq=entry.id, option=option)
        record(services, tracker, "chosen", entry.topic, entry.id)
        return [
            *utter_entry(dispatcher, entry, offers_for_topic(entry.topic)),
            SlotSet("option", None),
            SlotSet("offered_faq_ids", None),
        ]


class ActionShowLegalBasis(LegalTriageAction):
    def name(self) -> str:
        return "action_show_legal_basis"

    def act(self, dispatcher, tracker: Tracker, domain: dict[str, Any], services: Services) -> list[dict]:
        # "离婚冷静期是哪条规定的" asks for a law by itself; a bare "法律依据呢" refers to the last answer.
        articles = services.qa.find_articles(tracker.latest_message.get("text") or "")
        if articles:
            log_event(logger, "statute", tracker.sender_id, articles=[f"{a.law}:{a.number}" for a in articles])
            utter_articles(dispatcher, articles)
            return []
        entry = services.retriever.get(tracker.get_slot("last_faq_id") or "")
        if entry is None:
            dispatcher.utter_message(text=ASK_BEFORE_BASIS)
            return []
        for citation in entry.citations:
            article = services.laws.article(citation.law, citation.article, citation.suffix)
            if article is not None:
                utter_articles(dispatcher, [article])
        return []
