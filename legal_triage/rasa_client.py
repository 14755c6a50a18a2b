"""Talking to the Rasa server over its REST channel (the one way our channels reach Rasa)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class BotMessage:
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)

    @classmethod
    def from_rasa(cls, raw: dict) -> "BotMessage":
        return cls(raw.get("text") or "", tuple(Button(b.get("title", ""), b.get("payload", ""))
                                                  for b in raw.get("buttons") or []))

    def as_dict(self) -> dict:
        return {"text": self.text, "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons]}


class RasaUnavailable(Exception):
    """Rasa did not answer; the channel tells the citizen to try again shortly."""


def _payload(sender_id: str, text: str) -> dict:
    return {"sender": sender_id, "message": text[:MAX_MESSAGE_CHARS]}


class RasaClient:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self._url = base_url.rstrip("/") + "/webhooks/rest/webhook"
        self._timeout = timeout

    def send(self, sender_id: str, text: str) -> list[BotMessage]:
        try:
            response = httpx.post(self._url, json=_payload(sender_id, text), timeout=self._timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        return [BotMessage.from_rasa(m) for m in response.json()]

    async def send_async(self, sender_id: str, text: str) -> list[BotMessage]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(self._url, json=_payload(sender_id, text))
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        return [BotMessage.from_rasa(m) for m in response.json()]
