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
from bot.web.app import SENDER_COOKIE, create_app
from tests.fakes.rasa import FakeRasa

SECRET = "web-secret-for-the-tests"


def app_for(rasa: FakeRasa, store: InMemoryCaseStore | None = None, **settings):
    store = store or InMemoryCaseStore()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store)}), rasa, HandoffPolicy())
    # The chat never reaches the accounts: an unmigrated in-memory database stands in for them.
    accounts = Accounts(make_engine("sqlite://"))
    return create_app(Settings(**({"web_secret": SECRET} | settings)), rasa=rasa, handoff=handoff, accounts=accounts)


def client(rasa: FakeRasa, store: InMemoryCaseStore | None = None, **settings) -> TestClient:
    return TestClient(app_for(rasa, store, **settings), raise_server_exceptions=False)


def set_sender_cookie(c: TestClient, value: str) -> None:
    """Put a sender cookie in the client's jar where the server's own would be (replacing it)."""
    c.cookies.set(SENDER_COOKIE, value, domain="testserver.local", path="/api/chat")


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
    forged = c.post("/api/chat", json={"sender": "tg:someone-else", "message": "hi"})
    assert forged.status_code == 403 and "本设备" in forged.json()["error"]


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


# -- web chat identity (audit #14): the server issues the sender id, signed, in an HttpOnly cookie -----


def test_the_server_issues_the_sender_id_in_a_signed_http_only_cookie():
    rasa = FakeRasa()
    c = client(rasa)
    first = c.post("/api/chat", json={"message": "你好"})
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{SENDER_COOKIE}={first.json()['sender']}.")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/api/chat" in cookie
    second = c.post("/api/chat", json={"message": "欠薪"}).json()  # the page sends no id: the cookie is it
    assert second["sender"] == first.json()["sender"] and rasa.seen[-1] == (second["sender"], "欠薪")
    history = c.get("/api/chat/history")
    assert history.status_code == 200 and history.json()["messages"][0]["text"] == "老板欠工资"
    assert rasa.transcripts == [second["sender"]]
    assert c.get("/api/chat/updates").status_code == 200


def test_someone_elses_sender_id_is_refused():
    """The exploit: knowing (or guessing) a citizen's ``web:<uuid>`` was enough to read the conversation."""
    rasa = FakeRasa()
    app = app_for(rasa)
    victim = TestClient(app).post("/api/chat", json={"message": "我被打了"}).json()["sender"]
    attacker = TestClient(app, raise_server_exceptions=False)
    assert attacker.get("/api/chat/history", params={"sender": victim}).status_code in (401, 403)
    assert attacker.get("/api/chat/updates", params={"sender": victim}).status_code in (401, 403)
    assert attacker.post("/api/chat", json={"sender": victim, "message": "我撤回申请"}).status_code == 403
    for forged in (victim, f"{victim}.{'0' * 64}", f"{victim}.", "web:x.y"):
        set_sender_cookie(attacker, forged)
        for response in (attacker.get("/api/chat/history"), attacker.post("/api/chat", json={"message": "你好"})):
            assert response.status_code == 403 and "本设备" in response.json()["error"]
    signed_elsewhere = TestClient(app_for(rasa, web_secret="another-deployment"))
    signed_elsewhere.post("/api/chat", json={"message": "你好"})
    set_sender_cookie(attacker, signed_elsewhere.cookies[SENDER_COOKIE])
    assert attacker.get("/api/chat/history").status_code == 403
    assert rasa.transcripts == [] and [sender for sender, _ in rasa.seen].count(victim) == 1


def test_without_a_conversation_history_and_updates_say_so():
    c = client(FakeRasa())
    for path in ("/api/chat/history", "/api/chat/updates"):
        response = c.get(path)
        assert response.status_code == 401 and response.json()["error"] == "还没有开始对话。"


def test_chat_responses_are_never_cached():
    c = client(FakeRasa())
    c.post("/api/chat", json={"message": "你好"})
    for response in (c.get("/api/chat/history"), c.get("/api/chat/updates"), c.post("/api/chat/end")):
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"


def test_ending_the_conversation_issues_a_new_id():
    rasa = FakeRasa()
    c = client(rasa)
    old_cookie = c.post("/api/chat", json={"message": "我叫张三"}) and c.cookies[SENDER_COOKIE]
    old = old_cookie.rpartition(".")[0]
    ended = c.post("/api/chat/end")
    new = ended.json()["sender"]
    assert ended.status_code == 200 and new != old and c.cookies[SENDER_COOKIE].startswith(new + ".")
    assert "HttpOnly" in ended.headers["set-cookie"]
    c.get("/api/chat/history")
    assert rasa.transcripts == [new]  # the device now reads only the new, empty conversation
    assert c.post("/api/chat", json={"message": "你好"}).json()["sender"] == new
    set_sender_cookie(c, old_cookie)  # the old cookie itself stays valid where it was kept
    assert c.get("/api/chat/history").status_code == 200
