"""The web app with an in-memory Rasa twin: chat, bad input, Rasa down, the page itself."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
from fastapi.testclient import TestClient

from bot.errors import StorageUnavailableError
from bot.services.accounts import Accounts
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, WebOutbox
from bot.settings import Settings
from bot.storage.memory import InMemoryCaseStore
from bot.storage.sql import make_engine
from bot.web.app import create_app
from tests.fakes.rasa import FakeRasa


def client(rasa: FakeRasa, store: InMemoryCaseStore | None = None) -> TestClient:
    store = store or InMemoryCaseStore()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store)}), rasa, HandoffPolicy())
    # The chat never reaches the accounts: an unmigrated in-memory database stands in for them.
    accounts = Accounts(make_engine("sqlite://"))
    return TestClient(
        create_app(Settings(), rasa=rasa, handoff=handoff, accounts=accounts), raise_server_exceptions=False
    )


def test_chat_round_trip_keeps_a_web_sender_id():
    rasa = FakeRasa()
    c = client(rasa)
    first = c.post("/api/chat", json={"message": "你好"}).json()
    assert first["sender"].startswith("web:") and first["messages"][0]["buttons"][0]["title"] == "转人工"
    second = c.post("/api/chat", json={"sender": first["sender"], "message": "欠薪"}).json()
    assert second["sender"] == first["sender"] and rasa.seen[-1] == (first["sender"], "欠薪")


def test_bad_input_gets_a_polite_chinese_answer():
    c = client(FakeRasa())
    assert "请输入" in c.post("/api/chat", json={"message": "   "}).json()["messages"][0]["text"]
    assert "太长" in c.post("/api/chat", json={"message": "长" * 3000}).json()["messages"][0]["text"]
    bad = c.post("/api/chat", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "Traceback" not in bad.text and "请求格式" in bad.json()["error"]
    forged = c.post("/api/chat", json={"sender": "tg:someone-else", "message": "hi"}).json()
    assert forged["sender"].startswith("web:")


def test_rasa_down_says_try_later():
    response = client(FakeRasa(down=True)).post("/api/chat", json={"message": "你好"})
    assert response.status_code == 503 and "稍后再试" in response.json()["messages"][0]["text"]


def test_chat_page():
    page = client(FakeRasa()).get("/chat")
    assert page.status_code == 200 and "法律咨询" in page.text and "/api/chat" in page.text


@pytest.fixture
def healthy_peer():
    """A real HTTP server on loopback answering 200 to Rasa's "/" and the action server's "/health"."""

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200 if self.path in ("/", "/health") else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def free_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_health_is_ok_only_when_rasa_and_the_action_server_answer(healthy_peer):
    def health(rasa_url: str, actions_url: str):
        settings = Settings(rasa_url=rasa_url, action_server_url=actions_url)
        store = InMemoryCaseStore()
        rasa = FakeRasa()
        handoff = Handoff(store, Outbound({"web": WebOutbox(store)}), rasa, HandoffPolicy())
        app = create_app(settings, rasa=rasa, handoff=handoff, accounts=Accounts(make_engine("sqlite://")))
        return TestClient(app).get("/healthz")

    up = health(healthy_peer, healthy_peer)
    assert up.status_code == 200 and up.json() == {"status": "ok", "rasa": True, "actions": True}
    actions_down = health(healthy_peer, free_url())
    assert actions_down.status_code == 503
    assert actions_down.json() == {"status": "degraded", "rasa": True, "actions": False}
    rasa_down = health(free_url(), healthy_peer)
    assert rasa_down.status_code == 503 and rasa_down.json()["rasa"] is False


def test_every_response_carries_the_baseline_security_headers():
    c = client(FakeRasa())
    for response in (c.get("/chat"), c.post("/api/chat", json={"message": "你好"}), c.get("/no-such-page")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert c.get("/console/login").headers["x-frame-options"] == "DENY"  # the console's stricter ones win


def test_a_database_that_is_down_is_a_clear_503():
    class DownStore(InMemoryCaseStore):
        def open_escalation(self, sender_id):
            raise StorageUnavailableError()

    response = client(FakeRasa(), DownStore()).post("/api/chat", json={"message": "你好"})
    assert response.status_code == 503 and "数据库暂时无法访问" in response.json()["error"]
