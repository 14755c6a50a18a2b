"""A local stand-in for the WeChat server API, over real HTTP on 127.0.0.1.

Serves ``GET /cgi-bin/token`` (counts calls) and ``POST /cgi-bin/message/custom/send`` (records
what was sent). ``expire_token()`` makes WeChat forget the tokens it gave out, so the next send
is answered with errcode 40001; ``refuse_sends(errcode)`` makes sends fail as WeChat would.

    with FakeWeChatApi() as api:
        sender = WeChatSender(api.app_id, api.app_secret, api.url)
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class FakeWeChatApi:
    def __init__(self, app_id: str | None = None, app_secret: str = "fake-secret", expires_in: int = 7200) -> None:
        self.app_id = app_id or f"wx{uuid.uuid4().hex[:16]}"
        self.app_secret = app_secret
        self.expires_in = expires_in
        self._lock = threading.Lock()
        self._valid_tokens: set[str] = set()
        self._refuse_errcode = 0
        self.token_calls = 0
        self.sent: list[dict] = []  # the JSON bodies of accepted customer-service messages
        self.raw_bodies: list[bytes] = []
        self.rejected: list[int] = []  # errcodes answered to sends
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- control --------------------------------------------------------------------------------

    def reset(self) -> None:
        """Start afresh, as another official account (a new app id), so one server can serve many tests."""
        with self._lock:
            self.app_id = f"wx{uuid.uuid4().hex[:16]}"
            self._valid_tokens.clear()
            self._refuse_errcode = 0
            self.token_calls = 0
            self.sent.clear()
            self.raw_bodies.clear()
            self.rejected.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    def expire_token(self) -> None:
        """Forget every token handed out: the next send with one gets errcode 40001."""
        with self._lock:
            self._valid_tokens.clear()

    def refuse_sends(self, errcode: int = 45015) -> None:
        """Answer sends with this errcode (45015: the citizen has not written within 48 hours)."""
        self._refuse_errcode = errcode

    def texts(self, openid: str | None = None) -> list[str]:
        with self._lock:
            return [m["text"]["content"] for m in self.sent if openid is None or m["touser"] == openid]

    async def wait_for_texts(self, count: int, openid: str | None = None, timeout: float = 10.0) -> list[str]:
        """Poll until ``count`` texts have arrived (for ``openid``), or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(texts := self.texts(openid)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} texts at the fake WeChat API, got {len(texts)}")
            await asyncio.sleep(0.02)
        return texts

    # -- the API --------------------------------------------------------------------------------

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/cgi-bin/token")
        async def token(grant_type: str = "", appid: str = "", secret: str = "") -> JSONResponse:
            with self._lock:
                self.token_calls += 1
                if grant_type != "client_credential":
                    return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
                if appid != self.app_id:
                    return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
                if secret != self.app_secret:
                    return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
                value = f"ACCESS_TOKEN_{self.token_calls}_{uuid.uuid4().hex[:8]}"
                self._valid_tokens.add(value)
            return JSONResponse({"access_token": value, "expires_in": self.expires_in})

        @app.post("/cgi-bin/message/custom/send")
        async def custom_send(request: Request, access_token: str = "") -> JSONResponse:
            raw = await request.body()
            with self._lock:
                if not access_token:
                    errcode, errmsg = 41001, "access_token missing"
                elif access_token not in self._valid_tokens:
                    errcode, errmsg = 40001, "invalid credential, access_token is invalid or not latest"
                elif self._refuse_errcode:
                    errcode, errmsg = self._refuse_errcode, "refused by the fake"
                else:
                    try:
                        body = json.loads(raw.decode("utf-8"))
                        assert body["msgtype"] == "text" and body["touser"] and body["text"]["content"]
                    except (ValueError, KeyError, TypeError, AssertionError):
                        errcode, errmsg = 44002, "bad post data"
                    else:
                        self.sent.append(body)
                        self.raw_bodies.append(raw)
                        errcode, errmsg = 0, "ok"
                if errcode:
                    self.rejected.append(errcode)
            return JSONResponse({"errcode": errcode, "errmsg": errmsg})

        return app

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeWeChatApi:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # a free port, held from here on: no race with other tests
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(), log_level="warning", access_log=False, lifespan="off", loop="asyncio", http="h11"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-wechat-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake WeChat API did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeWeChatApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
