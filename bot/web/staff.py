"""The staff JSON API for human handoff (list, claim, read, reply, close), under ``/api/staff/``.

Authenticated with a bearer token bound to a console account and with an expiry date:
``LEGAL_TRIAGE_STAFF_TOKENS="username:token:YYYY-MM-DD,…"`` (valid through that day). A token acts as
its account: the account must exist and be active, and its role's permissions and a mediator's
committees apply as in the console. Every call writes an audit row.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field

from bot.domain import ESCALATION_STATUS_NAMES, Escalation
from bot.errors import NotFoundError
from bot.rasa_client import MAX_MESSAGE_CHARS, RasaClient, RasaUnavailable
from bot.services.accounts import Accounts, User
from bot.services.handoff import BlankTextError, ConflictError, Handoff
from bot.services.outbound import CHANNELS

logger = logging.getLogger("bot.web.staff")

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


@dataclass(frozen=True)
class StaffToken:
    username: str  # the console account the token acts as
    expires: dt.date  # the last day it is valid


def parse_tokens(raw: str) -> dict[str, StaffToken]:
    """``"alice:t1:2027-06-30,bob:t2:2027-03-31"`` → ``{"t1": StaffToken("alice", 2027-06-30), …}``.

    An entry without a valid expiry date (e.g. the old ``name:token``) is ignored, with a warning.
    """
    tokens = {}
    for number, entry in enumerate(raw.split(","), 1):
        name, _, rest = entry.strip().partition(":")
        token, _, expires = rest.rpartition(":")
        try:
            day = dt.date.fromisoformat(expires)
        except ValueError:
            day = None
        if name and token and day:
            tokens[token] = StaffToken(name, day)
        elif entry.strip():
            logger.warning("LEGAL_TRIAGE_STAFF_TOKENS entry %d ignored: expected username:token:YYYY-MM-DD", number)
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


def staff_router(handoff: Handoff, rasa: RasaClient, tokens: dict[str, StaffToken], accounts: Accounts) -> APIRouter:
    router = APIRouter(prefix="/api/staff")

    def staff(request: Request) -> User:
        """The account a valid, unexpired bearer token acts as (with the permission to handle escalations)."""
        if not tokens:
            raise HTTPException(503, "staff API is not configured (LEGAL_TRIAGE_STAFF_TOKENS)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        found = None
        for token, entry in tokens.items():
            if scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode()):
                found = entry
        if found is None:
            raise HTTPException(401, "invalid or missing staff token", headers={"WWW-Authenticate": "Bearer"})
        if accounts.now().date() > found.expires:
            raise HTTPException(401, "staff token expired", headers={"WWW-Authenticate": "Bearer"})
        user = accounts.get(found.username)
        if user is None or not user.can("escalations"):
            raise HTTPException(403, "the token's account is disabled or may not handle conversations")
        return user

    def audited(user: User, action: str, target: str) -> None:
        accounts.audit(user.username, f"api_{action}", target, None)

    def found(escalation_id: int, user: User) -> Escalation:
        """The escalation, if it is this user's to see (a mediator: their committees' bookings only)."""
        try:
            return handoff.get_for(escalation_id, user.committee_scope)
        except NotFoundError:
            raise HTTPException(404, f"no conversation {escalation_id}") from None

    @router.get("/conversations")
    def list_conversations(status: str = "waiting", user: User = Depends(staff)) -> dict:  # noqa: B008
        if status not in STATUSES:
            raise HTTPException(400, f"status must be one of {', '.join(STATUSES)}")
        audited(user, "list", f"conversations:{status}")
        now, scope = dt.datetime.now(), user.committee_scope
        return {
            "conversations": [
                conversation_json(e, now) for e in handoff.store.escalations(status) if handoff.visible(e, scope)
            ]
        }

    @router.get("/conversations/{escalation_id}")
    async def read(escalation_id: RowId, user: User = Depends(staff)) -> dict:  # noqa: B008
        escalation = found(escalation_id, user)
        audited(user, "view", f"escalation:{escalation_id}")
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

    async def act(user: User, escalation_id: int, action: str, make_coro: Callable[[], Awaitable[T]]) -> T:
        found(escalation_id, user)
        audited(user, action, f"escalation:{escalation_id}")
        try:
            result = await make_coro()
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
    async def claim(escalation_id: RowId, user: User = Depends(staff)) -> dict:  # noqa: B008
        escalation = await act(user, escalation_id, "claim", lambda: handoff.claim(escalation_id, user.username))
        return {"conversation": conversation_json(escalation, dt.datetime.now())}

    @router.post("/conversations/{escalation_id}/reply")
    async def reply(escalation_id: RowId, body: ReplyIn, user: User = Depends(staff)) -> dict:  # noqa: B008
        text = body.text.strip()
        message = await act(user, escalation_id, "reply", lambda: handoff.reply(escalation_id, user.username, text))
        return {"message": asdict(message) | {"created_at": _time(message.created_at)}}

    @router.post("/conversations/{escalation_id}/close")
    async def close(escalation_id: RowId, user: User = Depends(staff)) -> dict:  # noqa: B008
        escalation = await act(user, escalation_id, "close", lambda: handoff.close(escalation_id, user.username))
        return {"conversation": conversation_json(escalation, dt.datetime.now())}

    return router
