"""Builders for action tests: trackers and dispatchers that read like conversations."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


def make_tracker(
    text: str = "",
    intent: str = "ask_legal_question",
    slots: dict[str, Any] | None = None,
    sender_id: str = "web:test",
    active_loop: str | None = None,
    entities: list | None = None,
    events: list[dict] | None = None,
) -> Tracker:
    return Tracker(
        sender_id=sender_id,
        slots=slots or {},
        latest_message={"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or []},
        events=events or [],
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def run_action(action, tracker: Tracker, domain: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Run an action; returns (events, uttered messages)."""
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker, domain or {})
    if inspect.isawaitable(events):  # our actions are coroutines (their work runs in a thread)
        events = asyncio.run(events)
    return events, dispatcher.messages


def slot_events(events: list[dict]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
