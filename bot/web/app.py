"""FastAPI application factory: web chat, WeChat webhook, staff API, health.

Errors are translated here, once: no trace reaches a browser.

Web chat identity: the server issues the sender id (``web:<uuid>``) on first contact, in an
HttpOnly, SameSite=Strict cookie that holds the id and its HMAC (key: ``LEGAL_TRIAGE_WEB_SECRET``).
A cookie rather than a token the page stores: script on the page never sees it (nothing for an
injected script to steal), and it never appears in a URL (so not in proxy logs or the history).
The chat routes refuse a forged or unsigned id; the page's "结束并清除" ends the conversation on
the device (``POST /api/chat/end``: a fresh id replaces the cookie).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from importlib import resources

import httpx
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.errors import StorageUnavailableError
from bot.privacy import log_event
from bot.rasa_client import MAX_MESSAGE_CHARS, RasaClient, RasaUnavailable
from bot.retrieval.embedding import Embedder
from bot.services.accounts import Accounts
from bot.services.gateway import Gateway, RateLimit
from bot.services.handoff import Handoff
from bot.settings import Settings
from bot.web.console.pages import install_console
from bot.web.limits import BodyLimit, client_address, trusted_networks
from bot.web.staff import MAX_ID, parse_tokens, staff_router
from bot.wording import (
    BAD_REQUEST,
    METHOD_NOT_ALLOWED,
    NO_CONVERSATION,
    NOT_FOUND,
    NOT_THIS_DEVICE,
    STORAGE_DOWN,
    TOO_LARGE,
    TRY_LATER,
    UNSAVABLE,
    privacy_notice,
)

logger = logging.getLogger("bot.web")
#: On every response (the console adds a strict Content-Security-Policy of its own).
BASELINE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}
#: What the framework's own errors say (its English ``detail`` is not for citizens).
FRAMEWORK_ERRORS = {400: BAD_REQUEST, 404: NOT_FOUND, 405: METHOD_NOT_ALLOWED, 413: TOO_LARGE}

SENDER_COOKIE = "lt_sender"
SENDER_COOKIE_DAYS = 30  # renewed by every message
_WEB_SENDER = re.compile(r"web:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class ChatIn(BaseModel):
    sender: str = Field(default="", max_length=64)
    message: str = Field(default="", max_length=MAX_MESSAGE_CHARS * 5)


def _mac(secret: bytes, sender_id: str) -> str:
    return hmac.new(secret, sender_id.encode(), hashlib.sha256).hexdigest()


def signed_sender(secret: bytes, sender_id: str) -> str:
    """The cookie value that proves a browser was issued ``sender_id``."""
    return f"{sender_id}.{_mac(secret, sender_id)}"


def verified_sender(secret: bytes, value: str) -> str | None:
    """The sender id in a cookie value, if this server signed it; else None."""
    sender_id, _, mac = value.rpartition(".")
    if not _WEB_SENDER.fullmatch(sender_id):
        return None
    return sender_id if hmac.compare_digest(mac.encode(), _mac(secret, sender_id).encode()) else None


def web_secret(settings: Settings) -> bytes:
    if settings.web_secret:
        return settings.web_secret.encode()
    logger.warning(
        "LEGAL_TRIAGE_WEB_SECRET is not set: web chat ids are signed with a random key, so they do not "
        "survive a restart and are not shared by several web workers"
    )
    return secrets.token_bytes(32)


def create_app(
    settings: Settings,
    *,
    rasa: RasaClient,
    handoff: Handoff,
    accounts: Accounts,
    embedder_factory: Callable[[], Embedder] | None = None,
) -> FastAPI:
    """The web app over the given adapters (``composition.build_web_app`` passes the real ones, tests fakes).
    ``embedder_factory`` gives the console's FAQ pages the embedding model, loaded on first use."""
    # One gateway per channel: each counts its own senders, and its own client addresses at its own rate
    # (WeChat's come from WeChat's servers, shared by all of its users).
    gateway = Gateway(
        rasa,
        handoff,
        address_limit=RateLimit.per_minute(settings.web_ip_messages_per_minute),
        notice=privacy_notice(settings),
    )
    trusted = trusted_networks(settings.trusted_proxies)
    secret = web_secret(settings)

    async def watch_overdue() -> None:
        while True:
            await asyncio.sleep(settings.handoff_check_seconds)
            try:
                await handoff.remind_overdue()
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive a database hiccup
                logger.error("overdue check failed: %s", type(exc).__name__)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        for start in console.on_start:
            try:
                await asyncio.to_thread(start)
            except Exception as exc:  # noqa: BLE001 - a database not reachable yet must not stop the app
                logger.error("console start-up task failed: %s", type(exc).__name__)
        watcher = asyncio.create_task(watch_overdue())
        yield
        watcher.cancel()

    app = FastAPI(title="legal-triage", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    page = resources.files("bot.web").joinpath("static/chat.html").read_text(encoding="utf-8")
    app.include_router(staff_router(handoff, rasa, parse_tokens(settings.staff_tokens), accounts))
    console = install_console(app, handoff, rasa, accounts, settings.console_secure_cookie, settings, embedder_factory)
    if settings.wechat_token:
        from bot.channels.wechat import wechat_router

        wechat = Gateway(
            rasa,
            handoff,
            address_limit=RateLimit.per_minute(settings.wechat_ip_messages_per_minute),
            notice=privacy_notice(settings),
        )
        app.include_router(wechat_router(settings, wechat, deliveries=handoff.store))

    # Inside the headers below, so that a 413 carries them too; answered as any error (the console's as a page).
    app.add_middleware(BodyLimit, refuse=lambda scope: _error(Request(scope), 413, TOO_LARGE))

    @app.middleware("http")
    async def _baseline_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in BASELINE_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/chat"):  # a conversation: no shared or browser cache keeps it
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": BAD_REQUEST}, status_code=400)

    def _error(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None):
        path = request.url.path
        if path.startswith("/console") and not path.endswith(".json"):
            return app.state.console_error_page(request, status, message)
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)  # ours, and the framework's (unknown page, unparsable body)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc, HTTPException) else FRAMEWORK_ERRORS.get(exc.status_code, BAD_REQUEST)
        return _error(request, exc.status_code, detail, exc.headers)

    @app.exception_handler(DataError)  # a value the database refuses (PostgreSQL: a NUL character, too long …)
    async def _unsavable(request: Request, exc: DataError):
        logger.warning("database refused a value on %s: %s", request.url.path, type(exc.orig).__name__)
        return _error(request, 400, UNSAVABLE)

    @app.exception_handler(StorageUnavailableError)  # the database is down or full: nothing half-written
    async def _storage_down(request: Request, exc: StorageUnavailableError):
        logger.error("database unavailable on %s", request.url.path)
        return _error(request, 503, STORAGE_DOWN)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("web error on %s: %s", request.url.path, type(exc).__name__)
        return JSONResponse({"error": TRY_LATER}, status_code=500)

    @app.get("/chat", response_class=HTMLResponse)
    def chat_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/")
    def root() -> HTMLResponse:
        return HTMLResponse('<meta http-equiv="refresh" content="0; url=/chat">')

    def issued_sender(request: Request, claimed: str | None = None) -> str | None:
        """The sender id this server issued to the browser (None: none yet), or 403 for a forged one.

        ``claimed``: the ``sender`` older pages sent along; it must be the cookie's id.
        """
        cookie = request.cookies.get(SENDER_COOKIE)
        sender_id = verified_sender(secret, cookie) if cookie else None
        if (cookie and sender_id is None) or (claimed and claimed != sender_id):
            log_event(logger, "web_sender_refused", "web:?", path=request.url.path)
            raise HTTPException(403, NOT_THIS_DEVICE)
        return sender_id

    def known_sender(request: Request, claimed: str | None) -> str:
        sender_id = issued_sender(request, claimed)
        if sender_id is None:
            raise HTTPException(401, NO_CONVERSATION)
        return sender_id

    def with_sender(response: Response, request: Request, sender_id: str) -> Response:
        response.set_cookie(
            SENDER_COOKIE,
            signed_sender(secret, sender_id),
            max_age=SENDER_COOKIE_DAYS * 86_400,
            path="/api/chat",
            secure=settings.console_secure_cookie or request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    @app.post("/api/chat")
    async def chat(message: ChatIn, request: Request) -> Response:
        sender = issued_sender(request, message.sender) or f"web:{uuid.uuid4()}"
        try:
            replies = await gateway.handle(sender, message.message, client_address(request, trusted))
        except RasaUnavailable as exc:
            log_event(logger, "rasa_unavailable", sender, error=str(exc))
            busy = {"sender": sender, "messages": [{"text": TRY_LATER, "buttons": []}]}
            return with_sender(JSONResponse(busy, status_code=503), request, sender)
        escalation = handoff.open_for(sender)
        body: dict[str, object] = {
            "sender": sender,
            "messages": [m.as_dict() for m in replies],
            "human": escalation.status if escalation else None,
        }
        return with_sender(JSONResponse(body), request, sender)

    @app.post("/api/chat/end")
    def end(request: Request) -> Response:
        """End the conversation on this device (a shared phone, a kiosk): a fresh id replaces the cookie,
        so what was said can no longer be read from here."""
        sender = f"web:{uuid.uuid4()}"
        return with_sender(JSONResponse({"sender": sender}), request, sender)

    @app.get("/api/chat/updates")
    def updates(request: Request, sender: str | None = None, after: int = Query(0, ge=0, le=MAX_ID)) -> JSONResponse:
        """Messages from staff (and other notices) the page has not shown yet; the page polls this."""
        sender_id = known_sender(request, sender)
        escalation = handoff.open_for(sender_id)
        return JSONResponse(
            {
                "messages": [{"id": i, **m} for i, m in handoff.store.outbox(sender_id, after)],
                "human": escalation.status if escalation else None,
            }
        )

    @app.get("/api/chat/history")
    async def history(request: Request, sender: str | None = None) -> JSONResponse:
        """The conversation so far (after a reload or a reconnect): the bot's side from Rasa's tracker,
        and the newest outbox id so that polling starts after what is already shown."""
        sender_id = known_sender(request, sender)
        try:
            lines = await rasa.transcript(sender_id)
        except RasaUnavailable:
            return JSONResponse({"error": TRY_LATER}, status_code=503)
        staff_lines = handoff.store.outbox(sender_id, 0)
        return JSONResponse(
            {
                "messages": lines,
                "staff": [{"id": i, **m} for i, m in staff_lines],
                "after": staff_lines[-1][0] if staff_lines else 0,
            }
        )

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        checks = {}
        async with httpx.AsyncClient(timeout=3) as client:
            for name, url in (("rasa", settings.rasa_url + "/"), ("actions", settings.action_server_url + "/health")):
                try:
                    checks[name] = (await client.get(url)).status_code == 200
                except httpx.HTTPError:
                    checks[name] = False
        ok = all(checks.values())
        return JSONResponse({"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503)

    return app
