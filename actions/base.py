"""Shared base of our actions: one place that turns any failure into a polite reply.

rasa-sdk runs every action on the action server's one event loop. An action's work (embedding the
question, searching the indexes, database writes) runs in a worker thread, so one citizen's retrieval
never holds up another's reply.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.composition import Services, get_services
from bot.privacy import ensure_action_logging

logger = logging.getLogger("bot.actions")


class LegalTriageAction(Action, abc.ABC):
    """Runs :meth:`act` with the services; errors become ``utter_error`` (never a trace)."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        ensure_action_logging()
        try:
            return await asyncio.to_thread(lambda: self.act(dispatcher, tracker, domain, get_services()))
        except Exception as exc:  # noqa: BLE001 - the one place actions translate errors
            return failed(self.name(), dispatcher, exc)

    @abc.abstractmethod
    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], services: Services
    ) -> list[dict]:
        """Do the action's work."""


def failed(name: str, dispatcher: CollectingDispatcher, exc: Exception) -> list[dict]:
    """Log the failure (its type only: the message may quote the citizen) and say sorry politely."""
    logger.error("action %s failed: %s", name, type(exc).__name__, exc_info=logger.isEnabledFor(logging.DEBUG))
    dispatcher.utter_message(response="utter_error")
    return []


def button(title: str, payload: str) -> dict[str, str]:
    return {"title": title, "payload": payload}


OFFER_BUTTONS = {
    "apply_legal_aid": button("申请法律援助", "/apply_legal_aid"),
    "book_mediation": button("预约调解", "/book_mediation"),
    "request_human": button("转人工", "/request_human"),
    "continue_asking": button("继续提问", "/continue_asking"),
}


def option_buttons(labels: list[str]) -> list[dict[str, str]]:
    """Numbered options; the payload carries the number so a typed digit works the same."""
    return [button(f"{i}. {label}", f'/choose_option{{"option":"{i}"}}') for i, label in enumerate(labels, 1)]
