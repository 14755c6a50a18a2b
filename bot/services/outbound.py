"""One channel-agnostic way to reach a citizen outside a reply: staff messages, "the bot is back",
"nobody has picked this up yet", status changes.

The sender id says where the citizen wrote from (``tg:…``, ``wx:…``, ``web:…``); the router
hands the messages to that channel's sender. Channels register themselves when configured, so a
deployment without Telegram simply has no ``tg`` sender.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

from bot.errors import LegalTriageError
from bot.privacy import log_event
from bot.rasa_client import BotMessage

logger = logging.getLogger("bot.services.outbound")

CHANNELS = {"tg": "Telegram", "wx": "微信", "web": "网页"}


def channel_of(sender_id: str) -> str:
    """``tg``, ``wx``, ``web`` or ``other`` (e.g. the terminal chat's ``cli:``)."""
    prefix = sender_id.split(":", 1)[0]
    return prefix if prefix in CHANNELS else "other"


class DeliveryError(LegalTriageError):
    """The channel could not take the message (it is kept in the transcript)."""


class ChannelSender(Protocol):
    async def send(self, sender_id: str, messages: Sequence[BotMessage]) -> None:
        """Deliver messages to one citizen of this channel, in order."""


class Outbound:
    """Routes messages to the sender of the citizen's channel."""

    def __init__(self, senders: dict[str, ChannelSender] | None = None) -> None:
        self._senders: dict[str, ChannelSender] = dict(senders or {})

    def register(self, channel: str, sender: ChannelSender) -> None:
        self._senders[channel] = sender

    @property
    def channels(self) -> list[str]:
        return sorted(self._senders)

    async def send(self, sender_id: str, messages: Sequence[BotMessage]) -> None:
        channel = channel_of(sender_id)
        target = self._senders.get(channel)
        if target is None:
            raise DeliveryError(f"no outbound sender for channel {channel!r}")
        await target.send(sender_id, messages)
        log_event(logger, "outbound", sender_id, channel=channel, messages=len(messages))


class RecordingSender:
    """The in-memory fake: keeps what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, BotMessage]] = []

    async def send(self, sender_id: str, messages: Sequence[BotMessage]) -> None:
        self.sent.extend((sender_id, m) for m in messages)


class WebOutbox:
    """The web chat's sender: messages wait in the database until the page fetches them."""

    def __init__(self, store) -> None:
        self._store = store

    async def send(self, sender_id: str, messages: Sequence[BotMessage]) -> None:
        for message in messages:
            self._store.push_outbox(sender_id, message.as_dict() | {"author": "staff", "at": time.time()})
