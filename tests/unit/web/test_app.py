"""The web app with an in-memory Rasa twin: chat, bad input, Rasa down, the page itself."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
import xmltodict
from fastapi.testclient import TestClient

from bot.errors import StorageUnavailableError
from bot.services.accounts import Accounts
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, WebOutbox
from bot.settings import Settings
from bot.storage.memory import InMemoryCaseStore
from bot.storage.sql import make_engine
from bot.web.app import SENDER_COOKIE, create_app
from bot.wording import TOO_FAST, TOO_LARGE
from tests.fakes.rasa import FakeRasa
from tests.unit.channels.test_wechat import TOKEN, message_xml, signed_query

SECRET = "web-secret-for-the-tests"


def app_for(rasa: FakeRasa, store: InMemoryCaseStore | None = None, **settings):
    store = store or InMemoryCaseStore()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store)}), rasa, HandoffPolicy())
    # The chat never reaches the accounts: an unmigrated in-memory database stands in for them.
    accounts = Accounts(make_engine("sqlite://"))
    # Plain http://testserver never gets a Secure cookie back: the flag is off here, wherever this is imported.
    defaults = {"web_secret": SECRET, "console_secure_cookie": False}
    return create_app(Settings(**(defaults | settings)), rasa=rasa, handoff=handoff, accounts=accounts)


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


# -- limits per client address and per request body (audit #14) ------------------------------------


def say(c: TestClient, text: str = "你好", **headers) -> str:
    """One message as a new citizen would send it (a sender id costs nothing: a fresh one each time)."""
    c.cookies.clear()
    return c.post("/api/chat", json={"message": text}, headers=headers).json()["messages"][0]["text"]


def test_one_address_is_limited_whatever_sender_ids_it_uses():
    rasa = FakeRasa()
    c = client(rasa, web_ip_messages_per_minute=3)
    answers = [say(c, f"第{n}条") for n in range(5)]
    assert answers[:3] == ["您好"] * 3 and answers[3:] == [TOO_FAST] * 2
    assert [text for _, text in rasa.seen] == ["第0条", "第1条", "第2条"]


def test_forwarded_for_names_the_client_only_behind_a_trusted_proxy():
    app = app_for(FakeRasa(), web_ip_messages_per_minute=2, trusted_proxies="10.0.0.0/24")
    proxy = TestClient(app, client=("10.0.0.5", 40000))
    # behind the proxy each citizen has an allowance of their own, whatever they write in front of theirs
    answers = [say(proxy, **{"x-forwarded-for": f"6.6.6.6, 198.51.100.{n}"}) for n in (1, 1, 2, 2)]
    assert TOO_FAST not in answers
    assert say(proxy, **{"x-forwarded-for": "198.51.100.1"}) == TOO_FAST
    # a client that is not a trusted proxy cannot choose its address
    direct = TestClient(app, client=("203.0.113.9", 40000))
    answers = [say(direct, **{"x-forwarded-for": f"198.51.100.{n}"}) for n in (7, 8, 9)]
    assert answers[:2] == ["您好"] * 2 and answers[2] == TOO_FAST
    # nor can an IPv6 client by moving around its /64
    answers = [say(TestClient(app, client=(f"2001:db8:1:2::{n}", 40000))) for n in (1, 2, 3)]
    assert answers[2] == TOO_FAST


def test_the_wechat_webhook_limits_one_address_too():
    rasa = FakeRasa()
    c = client(rasa, wechat_token=TOKEN, wechat_ip_messages_per_minute=2)
    replies = [
        xmltodict.parse(
            c.post(
                "/wechat", params=signed_query(), content=message_xml("text", {"Content": "你好"}, openid=f"o{n:027d}")
            ).text
        )["xml"]["Content"]
        for n in range(3)
    ]
    assert TOO_FAST not in replies[:2] and replies[2] == TOO_FAST and len(rasa.seen) == 2


def test_a_body_over_64_kib_is_refused_on_every_route():
    rasa = FakeRasa()
    c = client(rasa, wechat_token=TOKEN)
    three_mb = b"x" * (3 * 1024 * 1024)
    for method, path in (("POST", "/api/chat"), ("POST", "/wechat"), ("POST", "/console/login"), ("GET", "/chat")):
        response = c.request(method, path, content=three_mb, headers={"content-type": "application/json"})
        assert response.status_code == 413 and TOO_LARGE in response.text, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-type"].startswith("text/html" if "console" in path else "application/json")
    assert rasa.seen == []
    assert c.post("/api/chat", json={"message": "你好", "padding": "x" * 60_000}).status_code == 200  # under it


async def test_a_body_sent_in_chunks_is_refused_before_it_is_read_whole():
    """No Content-Length (chunked): the limit counts the bytes as they arrive and stops at 64 KiB."""
    rasa = FakeRasa()
    app = app_for(rasa)
    chunk, pulled, sent = b"x" * 16_384, [], []

    async def receive():
        pulled.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": len(pulled) < 192}  # 3 MB in all

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/chat",
        "raw_path": b"/api/chat",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("192.0.2.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert sum(pulled) <= 64 * 1024 + len(chunk) and rasa.seen == []
    assert TOO_LARGE in b"".join(m.get("body", b"") for m in sent[1:]).decode()
