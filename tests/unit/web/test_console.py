"""The staff console: accounts, sessions, CSRF, roles, audit, and the escalation pages."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from bot.domain import Escalation
from bot.services.accounts import (
    FAILURE_WINDOW,
    IDLE,
    MAX_FAILURES,
    AccountError,
    Accounts,
    Role,
    hash_password,
    verify_password,
)
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, RecordingSender, WebOutbox
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.memory import InMemoryCaseStore
from bot.storage.sql import make_engine
from bot.web.app import create_app
from bot.web.console.pages import COOKIE
from tests.fakes.rasa import FakeRasa
from tests.support.console import PASSWORD, login, post_login


@pytest.fixture
def console(accounts):
    store = InMemoryCaseStore()
    telegram = RecordingSender()
    rasa = FakeRasa()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store), "tg": telegram}), rasa, HandoffPolicy())
    app = create_app(Settings(), rasa=rasa, handoff=handoff, accounts=accounts)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    client.store, client.telegram, client.rasa = store, telegram, rasa
    return client


def test_passwords_are_salted_scrypt_hashes():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$") and PASSWORD not in first
    assert verify_password(PASSWORD, first) and not verify_password("wrong-password", first)
    assert not verify_password(PASSWORD, "garbage")


def test_accounts_refuse_weak_passwords_and_duplicates(accounts):
    with pytest.raises(AccountError):
        accounts.create("li", "short", Role.STAFF)
    with pytest.raises(AccountError):
        accounts.create("wang", PASSWORD, Role.STAFF)
    assert accounts.any_admin() and accounts.get("pufa").can("faq") and not accounts.get("pufa").can("escalations")


def test_sessions_expire_when_idle(accounts):
    token, session = accounts.login("wang", PASSWORD)
    assert accounts.session(token).user.username == "wang" and session.csrf
    accounts.clock.now += IDLE + dt.timedelta(seconds=1)
    assert accounts.session(token) is None
    assert accounts.login("wang", "wrong-password") is None
    assert [e.action for e in accounts.audit_entries()][:3] == ["login_failed", "login", "user_create"]


def test_pages_need_a_login_and_the_cookie_is_safe(console):
    response = console.get("/console/escalations")
    assert response.status_code == 303 and response.headers["location"].startswith("/console/login")
    assert post_login(console, "wang", "nope").status_code == 401
    response = post_login(console, "wang", PASSWORD)
    cookie = response.headers["set-cookie"]
    assert COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    page = console.get("/console/escalations")
    assert page.status_code == 200 and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<script src="/console/static/console.js">' in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # everything is served by the app, no CDN
    assert console.get("/console/static/console.css").headers["content-type"].startswith("text/css")


def test_password_guessing_is_throttled_per_username(console, accounts):
    for _ in range(MAX_FAILURES):
        assert post_login(console, "wang", "guess").status_code == 401
    # now even the right password is refused, with a clear page, until the window has passed
    refused = post_login(console, "wang", PASSWORD)
    assert (
        refused.status_code == 429
        and "登录失败次数太多" in refused.text
        and COOKIE not in refused.headers.get("set-cookie", "")
    )
    assert post_login(console, "admin", PASSWORD).status_code == 303
    accounts.clock.now += FAILURE_WINDOW + dt.timedelta(seconds=1)
    assert post_login(console, "wang", PASSWORD).status_code == 303


def test_the_cookie_is_secure_over_https(console):
    response = post_login(console, "wang", origin="https://testserver")
    assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


def test_roles_limit_what_each_user_sees(console):
    login(console, "pufa")
    forbidden = console.get("/console/escalations")
    assert forbidden.status_code == 403 and "权限" in forbidden.text and "Traceback" not in forbidden.text
    assert console.get("/console/users").status_code == 403


def test_claim_reply_note_close_from_the_console(console, accounts):
    escalation = console.store.add_escalation(
        Escalation(sender_id="tg:99", reason="emergency", priority=0, topic="婚姻家庭", town="花石镇")
    )
    csrf = login(console)
    queue = console.get("/console/escalations.json").json()["conversations"]
    assert queue[0]["id"] == escalation.id and queue[0]["emergency"] and queue[0]["channel"] == "tg"
    assert console.get("/console/escalations.json", params={"channel": "web"}).json()["conversations"] == []
    url = f"/console/escalations/{escalation.id}"
    assert console.post(f"{url}/claim", data={"csrf": "forged"}).status_code == 400  # CSRF
    assert console.post(f"{url}/claim", data={"csrf": csrf}).status_code == 303
    console.post(f"{url}/reply", data={"csrf": csrf, "text": "您好，我是司法所的，请讲。"})
    console.post(f"{url}/note", data={"csrf": csrf, "text": "已电话联系其母亲"})
    page = console.get(url).text
    assert "已电话联系其母亲" in page and "内部备注" in page and "老板欠工资" in page  # bot transcript too
    assert "ask_legal_question（0.93）" in page and "labour-wage-arrears" in page  # what the bot understood
    console.post(f"{url}/close", data={"csrf": csrf})
    sent = [m.text for _, m in console.telegram.sent]
    assert "您好，我是司法所的，请讲。" in sent and "已电话联系其母亲" not in "".join(sent)
    assert console.rasa.resumed == ["tg:99"]
    actions = [(e.username, e.action, e.target) for e in accounts.audit_entries()]
    for action in ("claim", "reply", "note", "close"):
        assert ("wang", action, f"escalation:{escalation.id}") in actions


def test_a_second_staff_member_cannot_take_a_claimed_conversation(console):
    escalation = console.store.add_escalation(Escalation(sender_id="web:x", reason="request", priority=1))
    csrf = login(console, "wang")
    console.post(f"/console/escalations/{escalation.id}/claim", data={"csrf": csrf})
    csrf = login(console, "admin")
    response = console.post(f"/console/escalations/{escalation.id}/claim", data={"csrf": csrf})
    assert "error=" in response.headers["location"]
    assert "已被别人接待" in console.get(response.headers["location"]).text


def test_admin_creates_accounts_in_the_console(console, accounts):
    csrf = login(console, "admin")
    form = {"csrf": csrf, "username": "liu", "display_name": "刘调解员", "role": "mediator", "password": PASSWORD}
    refused = console.post("/console/users", data=form)  # a mediator needs their committee(s)
    assert refused.status_code == 400 and "调解委员会" in refused.text and accounts.get("liu") is None
    response = console.post("/console/users", data=form | {"committees": ["town-430321100"]})
    assert response.headers["location"] == "/console/users?done=created"
    assert accounts.get("liu").role is Role.MEDIATOR and accounts.get("liu").committees == ("town-430321100",)
    weak = console.post("/console/users", data={"csrf": csrf, "username": "zhao", "role": "staff", "password": "x"})
    assert weak.status_code == 400 and "密码至少" in weak.text and accounts.get("zhao") is None


def test_first_admin_comes_from_the_cli(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"LEGAL_TRIAGE_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", "users", "create-admin", "chief", "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert done.returncode == 0 and "created chief (admin)" in done.stdout
    assert Accounts(make_engine(url)).login("chief", PASSWORD) is not None
    short = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", "users", "add", "x", "--password-stdin"],
        input="short\n",
        text=True,
        capture_output=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert short.returncode == 1 and "ERROR" in short.stdout
