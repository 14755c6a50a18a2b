"""FastAPI application factory. Errors are translated here, once: no trace reaches a browser."""

from __future__ import annotations

import logging
import uuid
from importlib import resources

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from legal_triage.privacy import log_event
from legal_triage.rasa_client import MAX_MESSAGE_CHARS, RasaClient, RasaUnavailable
from legal_triage.settings import Settings

logger = logging.getLogger("legal_triage.web")
TRY_LATER = "系统繁忙，请稍后再试。您刚才说的内容没有丢失，着急的话可以拨打12348。"


class ChatIn(BaseModel):
    sender: str = Field(default="", max_length=64)
    message: str = Field(default="", max_length=MAX_MESSAGE_CHARS * 5)


def _sender_id(raw: str) -> str:
    """Web senders are ``web:<uuid>``; anything else gets a fresh id."""
    try:
        return f"web:{uuid.UUID(raw.removeprefix('web:'))}"
    except ValueError:
        return f"web:{uuid.uuid4()}"


def create_app(settings: Settings, rasa: RasaClient | None = None) -> FastAPI:
    rasa = rasa or RasaClient(settings.rasa_url)
    app = FastAPI(title="legal-triage", docs_url=None, redoc_url=None, openapi_url=None)
    page = resources.files("legal_triage.web").joinpath("static/chat.html").read_text(encoding="utf-8")

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "请求格式不正确，请刷新页面后重试。"}, status_code=400)

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
        text = message.message.strip()
        if not text:
            return JSONResponse({"sender": sender, "messages": [{"text": "请输入您想咨询的问题。", "buttons": []}]})
        if len(text) > MAX_MESSAGE_CHARS:
            return JSONResponse({"sender": sender, "messages": [{"text": f"消息太长了，请分几次发送（每次不超过{MAX_MESSAGE_CHARS}字）。", "buttons": []}]})
        try:
            replies = await rasa.send_async(sender, text)
        except RasaUnavailable as exc:
            log_event(logger, "rasa_unavailable", sender, error=str(exc))
            return JSONResponse({"sender": sender, "messages": [{"text": TRY_LATER, "buttons": []}]}, status_code=503)
        return JSONResponse({"sender": sender, "messages": [m.as_dict() for m in replies]})

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
