"""A local fake of the Telegram Bot API, over real HTTP, for the real python-telegram-bot client.

It serves ``/bot<token>/<method>`` on a free 127.0.0.1 port (uvicorn in a background thread),
answers what PTB calls (getMe, deleteWebhook, setWebhook, getWebhookInfo, getUpdates with long
polling and offsets, sendMessage, sendChatAction, answerCallbackQuery, setMyCommands, close,
logOut), and records every call with its decoded parameters. Tests push updates with the
builders below and read back the calls::

    with FakeTelegram() as api:
        api.push(api.text(100, "你好"))
        sent = await api.wait_messages(1)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN = "123456:TEST-token"
BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "法律咨询小助手",
    "username": "legal_triage_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# PTB posts form fields, each JSON-encoded unless it is a string; these are the ones to decode.
_JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "commands",
    "scope",
    "entities",
    "link_preview_options",
    "reply_parameters",
    "drop_pending_updates",
    "show_alert",
    "disable_notification",
    "protect_content",
    "chat_id",
    "user_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "max_connections",
    "cache_time",
}


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


def _decode_form(form: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in form.items():
        if key in _JSON_FIELDS:
            try:
                params[key] = json.loads(value)
                continue
            except ValueError:
                pass
        params[key] = value
    return params


class FakeTelegram:
    """The fake server; use as a context manager (starts and stops the thread)."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._updates: list[dict] = []
        # Telegram's update ids increase from a number of its choosing; two fakes in one test run
        # must not hand out the same ones (the delivery log would take them for redeliveries).
        self._update_ids = itertools.count(random.randint(1, 2**30))
        self._message_ids = itertools.count(1000)
        self._closing = False
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- life cycle -------------------------------------------------------------------------
    def __enter__(self) -> FakeTelegram:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        )
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake Telegram server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def base_url(self) -> str:
        """What ``TELEGRAM_BASE_URL`` should be (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    # ---- HTTP -------------------------------------------------------------------------------
    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
        method = request.path_params["method"]
        params: dict[str, Any] = _decode_form(dict(request.query_params))
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            params.update(json.loads(body or b"{}"))
        elif body:  # PTB's form posts (url-encoded; no test uploads files, which would be multipart)
            params.update(_decode_form(dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return JSONResponse(
                {"ok": False, "error_code": 404, "description": f"Not Found: method {method}"}, status_code=404
            )
        if method != "getUpdates":  # polling is noise; everything else is what the bot did
            with self._lock:
                self._calls.append(Call(method, params))
        result = await handler(params)
        return JSONResponse({"ok": True, "result": result})

    async def _api_getMe(self, params: dict) -> dict:
        return BOT_USER

    async def _api_getWebhookInfo(self, params: dict) -> dict:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    async def _api_getUpdates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            with self._lock:
                if offset:  # confirms every update before the offset, as Telegram does
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                batch = self._updates[:limit]
            if batch or self._closing or time.monotonic() >= deadline:
                return batch
            await asyncio.sleep(0.01)

    async def _api_sendMessage(self, params: dict) -> dict:
        chat_id = params["chat_id"]
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private"},
            "text": params.get("text", ""),
        }
        if isinstance(params.get("reply_markup"), dict) and "inline_keyboard" in params["reply_markup"]:
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _true(self, params: dict) -> bool:
        return True

    _api_deleteWebhook = _api_setWebhook = _api_sendChatAction = _api_answerCallbackQuery = _true
    _api_setMyCommands = _api_deleteMyCommands = _api_close = _api_logOut = _true

    # ---- what tests use ---------------------------------------------------------------------
    def push(self, update: dict) -> dict:
        """Queue an update for getUpdates (an ``update_id`` is assigned); returns it."""
        with self._lock:
            update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
        return update

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, chat_id: int | None = None) -> list[dict]:
        """The parameters of every sendMessage, in order (optionally for one chat)."""
        return [c.params for c in self.calls("sendMessage") if chat_id is None or c.params["chat_id"] == chat_id]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        """Poll until ``predicate()`` is truthy; fail with what was recorded so far."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; calls: {self.calls()}")
            await asyncio.sleep(0.01)

    async def wait_messages(self, count: int, chat_id: int | None = None, timeout: float = 10.0) -> list[dict]:
        """Wait until at least ``count`` messages were sent (to ``chat_id``); returns all of them."""
        await self.wait_for(lambda: len(self.messages(chat_id)) >= count, timeout, f"{count} message(s)")
        return self.messages(chat_id)

    # ---- update builders (private chats: the chat id is the user id) -----------------------
    @staticmethod
    def user(user_id: int, first_name: str = "测试") -> dict:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}

    def message(self, chat_id: int, **content: Any) -> dict:
        return {
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "测试"},
                "from": self.user(chat_id),
                **content,
            }
        }

    def text(self, chat_id: int, text: str) -> dict:
        return self.message(chat_id, text=text)

    def command(self, chat_id: int, command: str, *args: str) -> dict:
        """``command("start")`` -> ``/start`` with its bot_command entity, as clients send it."""
        head = f"/{command}"
        return self.message(
            chat_id, text=" ".join([head, *args]), entities=[{"type": "bot_command", "offset": 0, "length": len(head)}]
        )

    def callback(self, chat_id: int, data: str, message_text: str = "请选择：", markup: dict | None = None) -> dict:
        """A press on a button with ``data`` under the bot's message (``markup``: its keyboard as sent)."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private", "first_name": "测试"},
            "text": message_text,
        }
        if markup is not None:
            message["reply_markup"] = markup
        return {
            "callback_query": {
                "id": f"cq{next(self._message_ids)}",
                "from": self.user(chat_id),
                "chat_instance": f"ci{chat_id}",
                "data": data,
                "message": message,
            }
        }

    def photo(self, chat_id: int) -> dict:
        return self.message(
            chat_id,
            photo=[{"file_id": "AgAD-photo", "file_unique_id": "ph1", "width": 90, "height": 90, "file_size": 1024}],
        )

    def voice(self, chat_id: int) -> dict:
        return self.message(chat_id, voice={"file_id": "AwAD-voice", "file_unique_id": "vo1", "duration": 3})

    def sticker(self, chat_id: int) -> dict:
        return self.message(
            chat_id,
            sticker={
                "file_id": "CAAD-st",
                "file_unique_id": "st1",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            },
        )

    def location(self, chat_id: int) -> dict:
        return self.message(chat_id, location={"latitude": 27.78, "longitude": 112.95})

    def contact(self, chat_id: int, phone: str, user_id: int | None, first_name: str = "测试") -> dict:
        contact = {"phone_number": phone, "first_name": first_name}
        if user_id is not None:
            contact["user_id"] = user_id
        return self.message(chat_id, contact=contact)
