"""The one path from any channel to the bot: Rasa, unless a person has the conversation.

Channels (web chat, Telegram, WeChat, the terminal chat) turn their updates into
``(sender_id, text)`` and show the returned messages; everything else is here, once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from cachetools import LRUCache, TTLCache

from bot.privacy import log_event
from bot.rasa_client import MAX_MESSAGE_CHARS, PAYLOAD_TITLES, BotMessage, RasaClient
from bot.services.caps import CLIENT, address_key
from bot.services.handoff import Handoff
from bot.wording import EMPTY, TOO_FAST, TOO_LONG, TRY_LATER

logger = logging.getLogger("bot.services.gateway")

#: Intents any channel may send without a button of the bot's last reply (menus, the web page's 转人工).
MENU_PAYLOADS = frozenset({"/greet", *PAYLOAD_TITLES})


class RateLimit:
    """Per-key token bucket (a sender id, a client address): ``burst`` messages at once, then one every
    ``every`` seconds.

    It protects the bot (and staff) from floods; a citizen typing normally never meets it.
    """

    def __init__(self, burst: int = 8, every: float = 2.0, clock=time.monotonic, max_senders: int = 100_000) -> None:
        self.burst, self.every, self._clock = burst, every, clock
        self._buckets: LRUCache[str, tuple[float, float]] = LRUCache(maxsize=max_senders)

    @classmethod
    def per_minute(cls, messages: int) -> RateLimit | None:
        """``messages`` a minute, all of them at once if need be; None (no limit) for 0."""
        return cls(burst=messages, every=60.0 / messages) if messages > 0 else None

    def allow(self, key: str) -> bool:
        now = self._clock()
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) / self.every)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        return allowed


class FirstReplies:
    """Adds the privacy notice to the first reply each sender gets.

    Remembered per process (bounded): after a restart a citizen may be told once more, never less.
    """

    def __init__(self, notice: str, max_senders: int = 100_000) -> None:
        self.notice = notice
        self._told: LRUCache[str, bool] = LRUCache(maxsize=max_senders)

    def add_notice(self, sender_id: str, replies: list[BotMessage]) -> list[BotMessage]:
        if sender_id in self._told:
            return replies
        self._told[sender_id] = True
        return [*replies, BotMessage(self.notice)]


class OfferedPayloads:
    """The button payloads of the bot's last reply to each sender: bounded, and forgotten after ``ttl`` seconds.

    Rasa runs a message that starts with "/" as an intent (``/emergency`` would jump the staff
    queue): only a payload offered here, or one of ``MENU_PAYLOADS``, may pass as one.
    """

    def __init__(self, ttl: float = 3 * 3600.0, clock=time.monotonic, max_senders: int = 50_000) -> None:
        self.ttl = ttl
        self._offers: TTLCache[str, frozenset[str]] = TTLCache(maxsize=max_senders, ttl=ttl, timer=clock)

    def remember(self, sender_id: str, replies: Sequence[BotMessage]) -> None:
        self._offers[sender_id] = frozenset(b.payload for m in replies for b in m.buttons)

    def allows(self, sender_id: str, payload: str) -> bool:
        return payload in MENU_PAYLOADS or payload in self._offers.get(sender_id, frozenset())


def as_text(text: str) -> str:
    """``text`` as words for the NLU, not an intent: its leading "/" becomes the full-width "／"."""
    return "／" + text[1:]


class Gateway:
    """Limits per sender id and, for channels that know it, per client address (sender ids cost
    nothing to change on the web; ``address_limit`` None: none)."""

    def __init__(
        self,
        rasa: RasaClient,
        handoff: Handoff | None = None,
        limit: RateLimit | None = None,
        offered: OfferedPayloads | None = None,
        address_limit: RateLimit | None = None,
        notice: str | None = None,
    ) -> None:
        self.rasa = rasa
        self.handoff = handoff
        self.limit = limit or RateLimit()
        self.offered = offered or OfferedPayloads()
        self.address_limit = address_limit
        self.first_replies = FirstReplies(notice) if notice else None

    async def handle(self, sender_id: str, text: str, address: str | None = None) -> list[BotMessage]:
        """The replies to one citizen message (possibly none while a person has the conversation).

        ``address``: the client's network address, when the channel knows it.

        Raises:
            RasaUnavailable: the bot could not be reached; channels answer with ``TRY_LATER``.
        """
        limited = self.address_limit is not None and address is not None and not self.address_limit.allow(address)
        if limited or not self.limit.allow(sender_id):
            return [BotMessage(TOO_FAST)]
        text = text.strip()
        if not text:
            return [BotMessage(EMPTY)]
        if len(text) > MAX_MESSAGE_CHARS:
            return [BotMessage(TOO_LONG.format(limit=MAX_MESSAGE_CHARS))]
        escalation = self.handoff.open_for(sender_id) if self.handoff else None
        if self.handoff is not None and escalation is not None:
            # A person has the conversation: the message goes to the queue's transcript, not to Rasa
            # (a user turn left unanswered in Rasa's paused tracker would be acted on after resuming).
            return self.handoff.citizen_message(escalation, text)
        if text.startswith("/") and not self.offered.allows(sender_id, text):
            log_event(logger, "typed_intent_as_text", sender_id)
            text = as_text(text)
        # The actions count daily caps per client address on the web (bot/services/caps.py).
        metadata = {CLIENT: address_key(address)} if address is not None else None
        replies = await self.rasa.send_async(sender_id, text, metadata)
        if not replies:
            # Rasa answers nothing when an action could not run (the action server is down or
            # restarting): the citizen is told, rather than left in silence, and may press the same button again.
            return [BotMessage(TRY_LATER)]
        self.offered.remember(sender_id, replies)
        return self.first_replies.add_notice(sender_id, replies) if self.first_replies else replies
