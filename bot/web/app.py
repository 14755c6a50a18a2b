"""FastAPI application factory: web chat, WeChat webhook, staff API, health.

Errors are translated here, once: no trace reaches a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from importlib import resources

import httpx
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.errors import StorageUnavailableError
from bot.privacy import log_event
from bot.rasa_client import MAX_MESSAGE_CHARS, RasaClient, RasaUnavailable
from bot.retrieval.embedding import Embedder
from bot.services.accounts import Accounts
from bot.services.gateway import TRY_LATER, Gateway, privacy_notice
from bot.services.handoff import Handoff
from bot.settings import Settings
from bot.web.console.pages import install_console
from bot.web.staff import MAX_ID, parse_tokens, staff_router

logger = logging.getLogger("bot.web")
#: On every response (the console adds a strict Content-Security-Policy of its own).
BASELINE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}
BAD_REQUEST = "请求格式不正确，请刷新页面后重试。"
#: What the framework's own errors say (its English ``detail`` is not for citizens).
FRAMEWORK_ERRORS = {400: BAD_REQUEST, 404: "没有这个页面。", 405: "不支持这种请求方式。", 413: "请求内容太大。"}
UNSAVABLE = "填写的内容无法保存（含有空字符，或者太长），请修改后重试。"
STORAGE_DOWN = "数据库暂时无法访问，请稍后再试。已经保存的内容不会丢失。"


class ChatIn(BaseModel):
    sender: str = Field(default="", max_length=64)
    message: str = Field(default="", max_length=MAX_MESSAGE_CHARS * 5)


def _sender_id(raw: str) -> str:
    """Web senders are ``web:<uuid>``; anything else gets a fresh id."""
    try:
        return f"web:{uuid.UUID(raw.removeprefix('web:'))}"
    except ValueError:
        return f"web:{uuid.uuid4()}"


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
    gateway = Gateway(rasa, handoff, notice=privacy_notice(settings))

    async def watch_overdue() -> None:
        while True:
            await asyncio.sleep(settings.handoff_check_seconds)
            try:
                await handoff.remind_overdue()
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive a database hiccup
                logger.error("overdue check failed: %s", type(exc).__name__)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        watcher = asyncio.create_task(watch_overdue())
        yield
        watcher.cancel()

    app = FastAPI(title="legal-triage", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    page = resources.files("bot.web").joinpath("static/chat.html").read_text(encoding="utf-8")
    app.include_router(staff_router(handoff, rasa, parse_tokens(settings.staff_tokens)))
    install_console(app, handoff, rasa, accounts, settings.console_secure_cookie, settings, embedder_factory)
    if settings.wechat_token:
        from bot.channels.wechat import wechat_router

        app.include_router(wechat_router(settings, gateway, deliveries=handoff.store))

    @app.middleware("http")
    async def _baseline_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in BASELINE_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": BAD_REQUEST}, status_code=400)

    def _error(request: Request, status: int, message: str, headers: dict | None = None):
        path = request.url.path
        if path.startswith("/console") and not path.endswith(".json"):
            return app.state.console_error_page(status, message)
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
    async def chat_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/")
    async def root() -> HTMLResponse:
        return HTMLResponse('<meta http-equiv="refresh" content="0; url=/chat">')

    @app.post("/api/chat")
    async def chat(message: ChatIn) -> JSONResponse:
        sender = _sender_id(message.sender)
        try:
            replies = await gateway.handle(sender, message.message)
        except RasaUnavailable as exc:
            log_event(logger, "rasa_unavailable", sender, error=str(exc))
            return JSONResponse({"sender": sender, "messages": [{"text": TRY_LATER, "buttons": []}]}, status_code=503)
        escalation = handoff.open_for(sender)
        return JSONResponse(
            {
                "sender": sender,
                "messages": [m.as_dict() for m in replies],
                "human": escalation.status if escalation else None,
            }
        )

    @app.get("/api/chat/updates")
    async def updates(sender: str, after: int = Query(0, ge=0, le=MAX_ID)) -> JSONResponse:
        """Messages from staff (and other notices) the page has not shown yet; the page polls this."""
        sender_id = _sender_id(sender)
        escalation = handoff.open_for(sender_id)
        return JSONResponse(
            {
                "messages": [{"id": i, **m} for i, m in handoff.store.outbox(sender_id, after)],
                "human": escalation.status if escalation else None,
            }
        )

    @app.get("/api/chat/history")
    async def history(sender: str) -> JSONResponse:
        """The conversation so far (after a reload or a reconnect): the bot's side from Rasa's tracker,
        and the newest outbox id so that polling starts after what is already shown."""
        sender_id = _sender_id(sender)
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
