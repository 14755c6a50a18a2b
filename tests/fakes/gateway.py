"""The in-memory twin of ``bot.services.gateway.Gateway`` for the channel tests."""

from __future__ import annotations

import asyncio

from bot.rasa_client import BotMessage, RasaUnavailable


class FakeGateway:
    """Records ``(sender, text)`` in ``calls``; replies from ``replies``, else echoes "收到：…".

    It can be slow (``delay``), fail every message (``error``), hold chosen texts until their event
    is set (``hold``) or fail chosen texts as an unreachable Rasa (``fail``).
    """

    def __init__(
        self, replies: dict[str, list[BotMessage]] | None = None, delay: float = 0.0, error: Exception | None = None
    ) -> None:
        self.replies = dict(replies or {})
        self.delay = delay
        self.error = error
        self.calls: list[tuple[str, str]] = []
        self.addresses: list[str | None] = []
        self.hold: dict[str, asyncio.Event] = {}
        self.fail: set[str] = set()
        self.finished = 0

    async def handle(self, sender_id: str, text: str, address: str | None = None) -> list[BotMessage]:
        self.calls.append((sender_id, text))
        self.addresses.append(address)
        if text in self.hold:
            await self.hold[text].wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.finished += 1
        if self.error is not None:
            raise self.error
        if text in self.fail:
            raise RasaUnavailable("ConnectError")
        return list(self.replies.get(text, [BotMessage(f"收到：{text}")]))

    @property
    def seen(self) -> list[tuple[str, str]]:
        return self.calls

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.calls]
