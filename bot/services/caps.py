"""Daily caps on what puts work in front of staff: legal-aid applications and mediation bookings
per phone number and per client, requests for a person per client.

A *client* is the pseudonym of the network address the web gateway passed with the message (sender
ids cost nothing to change on the web), else of the sender id (WeChat openids and Telegram chats are
accounts, and their messages all come from the platform's servers). Uses are stored by pseudonym,
never the number or address, and forgotten after two days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.privacy import hashed
from bot.settings import Settings
from bot.storage.port import CaseStore

SUBMISSION = "submission"
ESCALATION = "escalation"
#: The message metadata key the gateway puts the client's pseudonym under.
CLIENT = "client"


def address_key(address: str) -> str:
    """The client key of a network address (what the gateway sends as ``metadata["client"]``)."""
    return hashed("ip:" + address)


def phone_key(phone: str) -> str:
    """The cap key of a phone number (erasure by phone removes it too)."""
    return hashed("tel:" + phone)


def client_of(sender_id: str, events: Sequence[Mapping[str, Any]]) -> str:
    """The client of the conversation's latest message: the address key the gateway passed with
    it, else the sender id's pseudonym."""
    for event in reversed(events):
        if event.get("event") == "user":
            client = (event.get("metadata") or {}).get(CLIENT)
            if isinstance(client, str) and client.startswith("ip:") and len(client) <= 64:
                return client
            break
    return hashed(sender_id)


class DailyCaps:
    def __init__(self, store: CaseStore, settings: Settings) -> None:
        self.store, self.settings = store, settings

    def submission(self, phone: str | None, client: str) -> bool:
        """Count one application or booking; False (nothing counted) when the phone or the client
        has reached its cap for today."""
        limits = {}
        if phone and self.settings.daily_submissions_per_phone > 0:
            limits[phone_key(phone)] = self.settings.daily_submissions_per_phone
        if self.settings.daily_submissions_per_client > 0:
            limits[client] = self.settings.daily_submissions_per_client
        return self.store.take_daily(SUBMISSION, limits)

    def escalation(self, client: str) -> bool:
        """Count one request for a person; False when the client has reached its cap for today."""
        cap = self.settings.daily_escalations_per_client
        return self.store.take_daily(ESCALATION, {client: cap} if cap > 0 else {})
