"""Fuzzing the web chat API and the staff JSON API: any body, any parameter, any token.

The app runs with the SQL store (as in production, where ids and numbers meet real column types),
on SQLite and on the required PostgreSQL server, and the in-memory Rasa twin of ``tests/unit/web/test_app.py``.
Shared strategies and checks are in ``tests/fuzz.py``.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from bot.domain import Escalation
from bot.rasa_client import MAX_MESSAGE_CHARS
from bot.services.accounts import Accounts, Role
from bot.services.gateway import MENU_PAYLOADS, as_text
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, WebOutbox
from bot.settings import Settings
from bot.storage.sql import SqlCaseStore
from bot.web.app import SENDER_COOKIE, create_app, signed_sender
from bot.web.limits import MAX_BODY_BYTES
from bot.wording import EMPTY, TOO_FAST, TOO_LONG, UNSAVABLE
from tests.support.fuzz import (
    CONTENT_TYPES,
    FUZZ,
    HEADER,
    JSON,
    PARAM,
    RAW_BODY,
    TEXT,
    FuzzRasa,
    dumps,
    fits_in_url,
    json_error,
    no_trace,
)
from tests.unit.web.test_app import set_sender_cookie

STAFF_TOKEN = "tok-alice-7f3a9c"
WEB_SECRET = "fuzz-web-secret"
OWN = "<the id in the cookie>"  # stands for the sender id the server issued to this client
WEB_SENDER = re.compile(r"^web:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def web(module_engine: Engine, tmp_path_factory):
    """One app for the whole module (building it per example would dominate the run time)."""
    root = tmp_path_factory.mktemp("fuzz_web_data")
    store, rasa = SqlCaseStore(module_engine), FuzzRasa()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store)}), rasa, HandoffPolicy())
    tokens = f"alice:{STAFF_TOKEN}:2999-12-31"  # a token acts as its account (bot/web/staff.py)
    settings = Settings(
        data_dir=root,
        models_dir=root / "models",
        staff_tokens=tokens,
        web_secret=WEB_SECRET,
        web_ip_messages_per_minute=0,  # every example comes from the one test client
    )
    accounts = Accounts(module_engine)
    if accounts.get("alice") is None:
        accounts.create("alice", "correct-horse-42", Role.STAFF)
    client = TestClient(create_app(settings, rasa=rasa, handoff=handoff, accounts=accounts))
    client.rasa, client.store, client.postgres = rasa, store, module_engine.dialect.name == "postgresql"
    return client


def as_citizen(web, with_cookie: bool) -> str | None:
    """Make the client a new citizen: with the cookie of a fresh sender id the server signed, or none yet."""
    web.cookies.clear()
    if not with_cookie:
        return None
    sender = f"web:{uuid.uuid4()}"
    set_sender_cookie(web, signed_sender(WEB_SECRET.encode(), sender))
    return sender


def own(value, sender: str | None):
    """``value``, with ``OWN`` replaced by the client's own sender id (or "" when it has none)."""
    if isinstance(value, dict):
        return {k: own(v, sender) for k, v in value.items()}
    return (sender or "") if value == OWN else value


# ---- POST /api/chat ------------------------------------------------------------------------------
SENDERS = st.one_of(
    st.just(OWN),
    st.uuids().map(str),
    st.uuids().map(lambda u: f"web:{u}"),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: f"{{{u}}}".upper()),
    TEXT,
    JSON,
)
CHAT_BODIES = st.one_of(
    st.fixed_dictionaries({}, optional={"sender": SENDERS, "message": st.one_of(TEXT, JSON)}),
    st.fixed_dictionaries({"sender": SENDERS, "message": TEXT}, optional={"extra": JSON, "__proto__": JSON}),
    JSON,
)


def check_chat(web, response, body, seen_before: int, sender: str | None) -> None:
    no_trace(response)
    assert response.status_code in (200, 400, 403, 413), response.text[:300]
    assert (response.status_code == 413) == (len(dumps(body)) > MAX_BODY_BYTES)
    if response.status_code in (400, 403, 413):
        json_error(response)
        assert len(web.rasa.seen) == seen_before  # nothing half-parsed (or for a forged id) reached the bot
    claimed = body.get("sender") if isinstance(body, dict) else None
    if response.status_code == 403:  # only for an id this client was not issued
        assert isinstance(claimed, str) and claimed and claimed != sender
    if response.status_code != 200:
        return
    data = response.json()
    assert WEB_SENDER.match(data["sender"]), data["sender"]
    assert isinstance(body, dict) and not (claimed and claimed != sender)
    assert data["sender"] == (sender or data["sender"])  # its own id, or a new one
    assert web.cookies[SENDER_COOKIE] == signed_sender(WEB_SECRET.encode(), data["sender"])
    texts = [m["text"] for m in data["messages"]]
    text = body.get("message", "").strip()
    if texts == [TOO_FAST]:
        assert len(web.rasa.seen) == seen_before
    elif not text:
        assert texts == [EMPTY] and len(web.rasa.seen) == seen_before
    elif len(text) > MAX_MESSAGE_CHARS:
        assert texts == [TOO_LONG.format(limit=MAX_MESSAGE_CHARS)] and len(web.rasa.seen) == seen_before
    else:  # exactly what was typed (stripped), for exactly this sender; a typed intent as text
        # (the fake Rasa offers only 转人工, one of the menu's payloads)
        sent = as_text(text) if text.startswith("/") and text not in MENU_PAYLOADS else text
        assert web.rasa.seen[seen_before:] == [(data["sender"], sent)]


@settings(FUZZ, max_examples=80)
@given(body=CHAT_BODIES, with_cookie=st.booleans())
@example(body={"message": "<script>alert(1)</script>' OR 1=1 --"}, with_cookie=False)
@example(body={"message": "长" * 100_000}, with_cookie=True)
@example(body={"sender": "web:" + "0" * 32, "message": "\x00\u202e😀"}, with_cookie=True)
@example(body={"sender": OWN, "message": "欠薪"}, with_cookie=True)
@example(body={"sender": 12, "message": ["列表"]}, with_cookie=False)
@example(body={"message": "/emergency"}, with_cookie=True)
@example(body={"message": " /request_human "}, with_cookie=True)
def test_chat_any_json_body_gets_a_clear_answer(web, body, with_cookie):
    sender = as_citizen(web, with_cookie)
    body = own(body, sender)
    seen = len(web.rasa.seen)
    response = web.post("/api/chat", content=dumps(body), headers={"content-type": "application/json"})
    check_chat(web, response, body, seen, sender)
    event(f"status {response.status_code}, reached Rasa: {len(web.rasa.seen) > seen}")


@settings(FUZZ, max_examples=60)
@given(body=RAW_BODY, content_type=CONTENT_TYPES)
@example(body=b"{not json", content_type=b"application/json")
@example(body=b"\x80", content_type=b"application/json")  # was {"detail": "There was an error parsing the body"}
@example(body=b'{"message": "\\ud800"}', content_type=b"application/json")
def test_chat_any_bytes_and_content_type_never_crash(web, body, content_type):
    as_citizen(web, with_cookie=False)
    seen = len(web.rasa.seen)
    response = web.post("/api/chat", content=body, headers={"content-type": content_type})
    no_trace(response)
    assert response.status_code in (200, 400, 403, 413)  # 403: a body that happens to claim a sender id
    assert (response.status_code == 413) == (len(body) > MAX_BODY_BYTES)
    if response.status_code != 200:
        json_error(response)
        assert len(web.rasa.seen) == seen


# ---- GET /api/chat/updates and /api/chat/history --------------------------------------------------
QUERIES = st.dictionaries(st.sampled_from(["sender", "after", "x", "sender[]", "AFTER"]), PARAM, max_size=3).filter(
    fits_in_url
)


@settings(FUZZ, max_examples=60)
@given(
    params=QUERIES | st.just({"sender": OWN}),
    path=st.sampled_from(["/api/chat/updates", "/api/chat/history"]),
    with_cookie=st.booleans(),
)
@example(params={"sender": "web:x", "after": "9223372036854775808"}, path="/api/chat/updates", with_cookie=True)
@example(params={"sender": OWN, "after": "2147483648"}, path="/api/chat/updates", with_cookie=True)  # PostgreSQL
@example(params={"sender": "<script>", "after": "-1"}, path="/api/chat/updates", with_cookie=False)
@example(params={}, path="/api/chat/history", with_cookie=True)
def test_polling_and_history_with_any_parameters(web, params, path, with_cookie):
    sender = as_citizen(web, with_cookie)
    params = own(params, sender)
    before = len(web.rasa.transcripts)
    response = web.get(path, params=params)
    no_trace(response)
    assert response.status_code in (200, 400, 401, 403), response.text[:300]
    if response.status_code == 400:
        json_error(response)
        return
    claimed = params.get("sender")
    expected = 403 if claimed and claimed != sender else 200 if sender else 401
    assert response.status_code == expected, (response.status_code, params)
    if expected != 200:
        json_error(response)
        assert web.rasa.transcripts[before:] == []
        return
    data = response.json()
    assert isinstance(data["messages"], list)
    if path.endswith("history"):
        assert web.rasa.transcripts[before:] == [sender] and data["after"] >= 0


# ---- any address ---------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=30)
@given(
    path=st.lists(PARAM.map(lambda text: quote(text, safe="")), min_size=1, max_size=3)
    .map("/".join)
    .filter(lambda path: len(path) < 30_000),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    prefix=st.sampled_from(["/", "/api/", "/api/chat/", "/api/staff/", "/wechat/", "/chat/"]),
)
@example(path="nothing-here", method="GET", prefix="/")  # was {"detail": "Not Found"}
@example(path="", method="DELETE", prefix="/api/chat")  # was {"detail": "Method Not Allowed"}
def test_any_address_and_method_get_a_chinese_json_error(web, path, method, prefix):
    response = web.request(method, prefix + path)
    no_trace(response)
    event(f"status {response.status_code}")
    if response.status_code >= 400:
        json_error(response)


# ---- the staff API -----------------------------------------------------------------------------------
STAFF_PATHS = st.sampled_from(
    [
        "/api/staff/conversations",
        "/api/staff/conversations/{id}",
        "/api/staff/conversations/{id}/claim",
        "/api/staff/conversations/{id}/reply",
        "/api/staff/conversations/{id}/close",
    ]
)
IDS = st.one_of(st.integers(min_value=-3, max_value=12).map(str), PARAM)


def staff_url(path: str, raw_id: str) -> str:
    return path.replace("{id}", quote(raw_id, safe="") or "%20")


@settings(FUZZ, max_examples=50)
@given(
    authorization=st.one_of(
        st.none(),
        HEADER,
        HEADER.map(lambda h: f"Bearer {h}"),
        st.sampled_from(
            [
                f"Bearer {STAFF_TOKEN[:-1]}",
                f"Bearer {STAFF_TOKEN}x",
                f"Basic {STAFF_TOKEN}",
                STAFF_TOKEN,
                f"Bearer  {STAFF_TOKEN}",
                f"Bearer {STAFF_TOKEN.upper()}",
                "Bearer ",
                "Bearer",
            ]
        ),
    ),
    path=STAFF_PATHS,
    raw_id=IDS,
)
def test_staff_api_refuses_forged_tokens(web, authorization, path, raw_id):
    if (
        authorization is not None
        and authorization.partition(" ")[2] == STAFF_TOKEN
        and authorization.partition(" ")[0].lower() == "bearer"
    ):
        return  # the one real token
    headers = {} if authorization is None else {"authorization": authorization.encode("latin-1")}
    method = web.get if path.endswith(("conversations", "{id}")) else web.post
    kwargs = {"json": {"text": "你好"}} if method is web.post else {}
    response = method(staff_url(path, raw_id), headers=headers, **kwargs)
    no_trace(response)
    event(f"status {response.status_code}")
    if response.status_code in (404, 405):  # an id with a "/" in it leaves the API's routes altogether
        assert response.json()["error"] in ("没有这个页面。", "不支持这种请求方式。")
        return
    assert response.status_code == 401, response.text[:300]
    assert response.headers["www-authenticate"] == "Bearer" and response.json()["error"]


@pytest.fixture(scope="module")
def escalations(web):
    """Conversations for the staff API to act on (web citizens, so replies land in the web outbox)."""
    return [
        web.store.add_escalation(Escalation(sender_id=f"web:{uuid.UUID(int=i)}", reason="request", priority=1))
        for i in range(1, 6)
    ]


@settings(FUZZ, max_examples=60)
@given(
    path=STAFF_PATHS,
    raw_id=IDS,
    body=st.one_of(st.fixed_dictionaries({"text": TEXT}), JSON),
    status=st.one_of(st.none(), PARAM, st.sampled_from(["waiting", "claimed", "closed"])),
)
@example(path="/api/staff/conversations/{id}", raw_id="9223372036854775808", body={}, status=None)  # was a 500
@example(path="/api/staff/conversations/{id}/claim", raw_id="2147483648", body={}, status=None)  # PostgreSQL
@example(path="/api/staff/conversations/{id}/reply", raw_id="1", body={"text": "<script>x</script>"}, status=None)
def test_staff_api_with_any_id_and_body_never_fails(web, escalations, path, raw_id, body, status):
    headers = {"authorization": f"Bearer {STAFF_TOKEN}"}
    url = staff_url(path, raw_id)
    if path.endswith("conversations"):
        response = web.get(url, params={} if status is None else {"status": status}, headers=headers)
    elif path.endswith("{id}"):
        response = web.get(url, headers=headers)
    else:
        response = web.post(url, content=dumps(body), headers=headers | {"content-type": "application/json"})
    no_trace(response)
    assert response.status_code in (200, 400, 404, 409), response.text[:300]
    assert response.headers["content-type"].startswith("application/json")


@settings(FUZZ, max_examples=30)
@given(text=TEXT)
@example(text="   ")  # was sent to the citizen as an empty message
@example(text="\n\t\u3000")
@example(text="<script>alert(1)</script>")
@example(text="a\x00b")  # PostgreSQL refuses NUL in text: was a 500
def test_a_staff_reply_reaches_the_citizen_exactly_or_is_refused(web, text):
    escalation = web.store.add_escalation(Escalation(sender_id=f"web:{uuid.uuid4()}", reason="request", priority=1))
    headers = {"authorization": f"Bearer {STAFF_TOKEN}"}
    base = f"/api/staff/conversations/{escalation.id}"
    assert web.post(f"{base}/claim", headers=headers).status_code == 200
    sent_before = len(web.store.outbox(escalation.sender_id, 0))
    response = web.post(f"{base}/reply", json={"text": text}, headers=headers)
    no_trace(response)
    outbox = web.store.outbox(escalation.sender_id, 0)[sent_before:]
    if web.postgres and "\x00" in text.strip() and len(text) <= MAX_MESSAGE_CHARS:
        assert response.status_code == 400 and json_error(response) == UNSAVABLE and outbox == []
    elif text.strip() and len(text) <= MAX_MESSAGE_CHARS:
        assert response.status_code == 200 and response.json()["message"]["text"] == text.strip()
        assert [m["text"] for _, m in outbox] == [text.strip()]
        set_sender_cookie(web, signed_sender(WEB_SECRET.encode(), escalation.sender_id))
        polled = web.get("/api/chat/updates").json()["messages"]
        assert polled[-1]["text"] == text.strip()
    else:  # nothing (and nothing empty) goes to the citizen
        assert response.status_code in (400, 413) and outbox == []
