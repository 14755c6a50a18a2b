"""The staff JSON API for human handoff (list, claim, read, reply, close), under ``/api/staff/``.

Authenticated with a bearer token per staff member (``LEGAL_TRIAGE_STAFF_TOKENS="name:token,…"``);
the console of the next issue brings accounts and roles on top of the same use case.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Awaitable
from dataclasses import asdict
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field

from bot.domain import ESCALATION_STATUS_NAMES, Escalation
from bot.errors import NotFoundError
from bot.rasa_client import MAX_MESSAGE_CHARS, RasaClient, RasaUnavailable
from bot.services.handoff import BlankTextError, ConflictError, Handoff
from bot.services.outbound import CHANNELS

STATUSES = tuple(ESCALATION_STATUS_NAMES)
#: Ids are database INTEGERs (32 bits in PostgreSQL): a larger number in a URL is a bad request, not a crash.
MAX_ID = 2**31 - 1
#: A row id in a URL path (here and in the console).
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
T = TypeVar("T")


def row_id(text: str) -> int | None:
    """A row id typed into a form, or None (for "", "²", a 30-digit number …)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) <= MAX_ID else None


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


def parse_tokens(raw: str) -> dict[str, str]:
    """``"alice:t1,bob:t2"`` → ``{"t1": "alice", "t2": "bob"}``."""
    tokens = {}
    for pair in raw.split(","):
        name, _, token = pair.strip().partition(":")
        if name and token:
            tokens[token] = name
    return tokens


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def conversation_json(e: Escalation, now: dt.datetime) -> dict:
    waited_until = e.claimed_at or e.closed_at or now
    return {
        "id": e.id,
        "sender_id": e.sender_id,
        "channel": e.channel,
        "channel_name": CHANNELS.get(e.channel, e.channel),
        "reason": e.reason,
        "priority": e.priority,
        "emergency": e.priority == 0,
        "topic": e.topic,
        "town": e.town,
        "status": e.status,
        "status_name": ESCALATION_STATUS_NAMES.get(e.status, e.status),
        "assignee": e.assignee,
        "created_at": _time(e.created_at),
        "claimed_at": _time(e.claimed_at),
        "closed_at": _time(e.closed_at),
        "waiting_seconds": int((waited_until - e.created_at).total_seconds()) if e.created_at else 0,
    }


def staff_router(handoff: Handoff, rasa: RasaClient, tokens: dict[str, str]) -> APIRouter:
    router = APIRouter(prefix="/api/staff")

    def staff(request: Request) -> str:
        if not tokens:
            raise HTTPException(503, "staff API is not configured (LEGAL_TRIAGE_STAFF_TOKENS)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        for token, name in tokens.items():
            if scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode()):
                return name
        raise HTTPException(401, "invalid or missing staff token", headers={"WWW-Authenticate": "Bearer"})

    def found(escalation_id: int) -> Escalation:
        try:
            return handoff.get(escalation_id)
        except NotFoundError:
            raise HTTPException(404, f"no conversation {escalation_id}") from None

    @router.get("/conversations")
    async def list_conversations(status: str = "waiting", who: str = Depends(staff)) -> dict:
        if status not in STATUSES:
            raise HTTPException(400, f"status must be one of {', '.join(STATUSES)}")
        now = dt.datetime.now()
        return {"conversations": [conversation_json(e, now) for e in handoff.store.escalations(status)]}

    @router.get("/conversations/{escalation_id}")
    async def read(escalation_id: RowId, who: str = Depends(staff)) -> dict:
        escalation = found(escalation_id)
        try:
            bot_transcript = await rasa.transcript(escalation.sender_id)
        except RasaUnavailable:
            bot_transcript = None  # the queue's own transcript below is still there
        return {
            "conversation": conversation_json(escalation, dt.datetime.now()),
            "context": escalation.context,
            "messages": [asdict(m) | {"created_at": _time(m.created_at)} for m in handoff.transcript(escalation_id)],
            "bot_transcript": bot_transcript,
        }

    async def act(coro: Awaitable[T]) -> T:
        try:
            result = await coro
        except BlankTextError as exc:
            raise HTTPException(400, str(exc)) from None
        except ConflictError as exc:
            raise HTTPException(409, str(exc)) from None
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except RasaUnavailable:
            raise HTTPException(503, "Rasa is unavailable; try again") from None
        return result

    @router.post("/conversations/{escalation_id}/claim")
    async def claim(escalation_id: RowId, who: str = Depends(staff)) -> dict:
        escalation = await act(handoff.claim(escalation_id, who))
        return {"conversation": conversation_json(escalation, dt.datetime.now())}

    @router.post("/conversations/{escalation_id}/reply")
    async def reply(escalation_id: RowId, body: ReplyIn, who: str = Depends(staff)) -> dict:
        message = await act(handoff.reply(escalation_id, who, body.text.strip()))
        return {"message": asdict(message) | {"created_at": _time(message.created_at)}}

    @router.post("/conversations/{escalation_id}/close")
    async def close(escalation_id: RowId, who: str = Depends(staff)) -> dict:
        escalation = await act(handoff.close(escalation_id, who))
        return {"conversation": conversation_json(escalation, dt.datetime.now())}

    return router
