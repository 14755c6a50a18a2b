"""The web app with an in-memory Rasa twin: chat, bad input, Rasa down, the page itself."""

from __future__ import annotations

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


def test_chat_page_and_health():
    c = client(FakeRasa())
    page = c.get("/chat")
    assert page.status_code == 200 and "法律咨询" in page.text and "/api/chat" in page.text
    health = c.get("/healthz")  # nothing listens on the default ports in unit tests
    assert health.status_code in (200, 503) and "status" in health.json()


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
