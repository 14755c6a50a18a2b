"""Talking to the Rasa server over its REST channel (the one way our channels reach Rasa)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

MAX_MESSAGE_CHARS = 2000
#: Payloads the channels send without a bot button (menus, the web page's "转人工" button).
PAYLOAD_TITLES = {
    "/request_human": "转人工",
    "/apply_legal_aid": "申请法律援助",
    "/book_mediation": "预约调解",
    "/continue_asking": "法律咨询",
}


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class BotMessage:
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)

    @classmethod
    def from_rasa(cls, raw: dict) -> BotMessage:
        return cls(
            raw.get("text") or "",
            tuple(Button(b.get("title", ""), b.get("payload", "")) for b in raw.get("buttons") or []),
        )

    def as_dict(self) -> dict:
        return {"text": self.text, "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons]}


class RasaUnavailable(Exception):
    """Rasa did not answer; the channel tells the citizen to try again shortly."""


def _payload(sender_id: str, text: str, metadata: dict | None = None) -> dict:
    """The REST channel's body; Rasa stores ``metadata`` with the message, where actions read it."""
    payload: dict = {"sender": sender_id, "message": text[:MAX_MESSAGE_CHARS]}
    return payload | {"metadata": metadata} if metadata else payload


class RasaClient:
    def __init__(self, base_url: str, timeout: float = 30.0, token: str = "") -> None:
        self._base = base_url.rstrip("/")
        self._url = self._base + "/webhooks/rest/webhook"
        self._timeout = timeout
        self._token = token

    def send(self, sender_id: str, text: str) -> list[BotMessage]:
        try:
            response = httpx.post(self._url, json=_payload(sender_id, text), timeout=self._timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        return [BotMessage.from_rasa(m) for m in response.json()]

    async def send_async(self, sender_id: str, text: str, metadata: dict | None = None) -> list[BotMessage]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(self._url, json=_payload(sender_id, text, metadata))
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        return [BotMessage.from_rasa(m) for m in response.json()]

    # ---- Rasa's HTTP API (needs --enable-api and the token) --------------------------------
    async def _api(self, method: str, path: str, params: dict | None = None, **kwargs) -> httpx.Response:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.request(
                    method, f"{self._base}{path}", params={"token": self._token, **(params or {})}, **kwargs
                )
                response.raise_for_status()
                return response
        except httpx.HTTPError as exc:
            raise RasaUnavailable(type(exc).__name__) from exc

    async def resume(self, sender_id: str) -> None:
        """Un-pause a conversation paused by a handoff.

        Pausing stopped the bot before its ``action_listen``; that is added too, so the next message
        starts a normal turn (otherwise the rules see a user turn where none was expected).
        """
        await self._api(
            "POST",
            f"/conversations/{quote(sender_id, safe=':')}/tracker/events",
            json=[{"event": "resume"}, {"event": "action", "name": "action_listen"}],
        )

    async def transcript(self, sender_id: str) -> list[dict]:
        """The conversation as the citizen saw it: ``{"author": "citizen"|"bot", "text", "buttons", "at"}``;
        citizen lines also carry what the bot understood: ``intent``, ``confidence``, ``topic``, ``faq``."""
        response = await self._api(
            "GET", f"/conversations/{quote(sender_id, safe=':')}/tracker", params={"include_events": "ALL"}
        )
        lines: list[dict] = []
        titles = dict(PAYLOAD_TITLES)  # a tapped button shows as its title, not as its payload
        last_citizen: dict = {}
        for event in response.json().get("events") or []:
            if event.get("event") == "user" and event.get("text"):
                text = titles.get(event["text"], event["text"])
                intent = (event.get("parse_data") or {}).get("intent") or {}
                last_citizen = {
                    "author": "citizen",
                    "text": text,
                    "buttons": [],
                    "at": event.get("timestamp"),
                    "intent": intent.get("name"),
                    "confidence": intent.get("confidence"),
                }
                lines.append(last_citizen)
            elif event.get("event") == "slot" and event.get("name") in ("topic", "last_faq_id") and last_citizen:
                last_citizen["faq" if event["name"] == "last_faq_id" else "topic"] = event.get("value")
            elif event.get("event") == "bot" and (event.get("text") or (event.get("data") or {}).get("buttons")):
                buttons = [
                    {"title": b.get("title", ""), "payload": b.get("payload", "")}
                    for b in (event.get("data") or {}).get("buttons") or []
                ]
                titles.update((b["payload"], b["title"]) for b in buttons)
                lines.append(
                    {"author": "bot", "text": event.get("text") or "", "buttons": buttons, "at": event.get("timestamp")}
                )
        return lines
