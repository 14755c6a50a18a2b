"""The one path from any channel to the bot: Rasa, unless a person has the conversation.

Channels (web chat, Telegram, WeChat, the terminal chat) turn their updates into
``(sender_id, text)`` and show the returned messages; everything else is here, once.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from bot.rasa_client import MAX_MESSAGE_CHARS, BotMessage, RasaClient
from bot.services.handoff import Handoff

EMPTY = "请输入您想咨询的问题。"
TOO_FAST = "您发消息太快了，请稍等几秒再发。刚才这条没有收到，请重新发送。"
TOO_LONG = f"消息太长了，请分几次发送（每次不超过{MAX_MESSAGE_CHARS}字）。"
TRY_LATER = "系统繁忙，请稍后再试：刚才这条没有收到，请过一会儿重新发送。之前说的内容都还在；着急的话可以拨打12348。"


class RateLimit:
    """Per-key token bucket (a sender id, a client address): ``burst`` messages at once, then one every
    ``every`` seconds.

    It protects the bot (and staff) from floods; a citizen typing normally never meets it.
    """

    def __init__(self, burst: int = 8, every: float = 2.0, clock=time.monotonic, max_senders: int = 100_000) -> None:
        self.burst, self.every, self._clock, self._max = burst, every, clock, max_senders
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

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
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return allowed


class Gateway:
    """Limits per sender id and, for channels that know it, per client address (sender ids cost
    nothing to change on the web; ``address_limit`` None: none)."""

    def __init__(
        self,
        rasa: RasaClient,
        handoff: Handoff | None = None,
        limit: RateLimit | None = None,
        address_limit: RateLimit | None = None,
    ) -> None:
        self.rasa = rasa
        self.handoff = handoff
        self.limit = limit or RateLimit()
        self.address_limit = address_limit

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
            return [BotMessage(TOO_LONG)]
        escalation = self.handoff.open_for(sender_id) if self.handoff else None
        if escalation is not None:
            # A person has the conversation: the message goes to the queue's transcript, not to Rasa
            # (a user turn left unanswered in Rasa's paused tracker would be acted on after resuming).
            return self.handoff.citizen_message(escalation, text)
        replies = await self.rasa.send_async(sender_id, text)
        # Rasa answers nothing when an action could not run (the action server is down or restarting):
        # the citizen is told, rather than left in silence.
        return replies or [BotMessage(TRY_LATER)]
