"""Security audit of the staff side (issue 14): mediators' scope, account management, login throttling
and CSRF, audit of personal-data views, account-bound API tokens, and the lows.

Each test reproduces a finding against the real app (TestClient) over a real SQLite database."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from fastapi.testclient import TestClient

from bot.domain import LegalAidApplication, MediationBooking
from bot.knowledge.directory import ServiceDirectory
from bot.services import accounts as accounts_module
from bot.services import intake, mediation
from bot.services.accounts import FAILURE_WINDOW, GLOBAL_WINDOW, MAX_IP_FAILURES, Role
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, RecordingSender, WebOutbox
from bot.settings import Settings
from bot.storage.sql import SqlCaseStore
from bot.web.app import create_app
from bot.web.console.pages import COOKIE, LOGIN_COOKIE
from tests.fakes.rasa import FakeRasa
from tests.support.console import PASSWORD, login, post_login

COMMITTEE_A, COMMITTEE_B = "town-430321100", "town-430321101"


def make_client(accounts, settings: Settings | None = None) -> TestClient:
    store = SqlCaseStore(accounts._engine)  # the same SQLite file as the accounts
    rasa = FakeRasa()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store), "tg": RecordingSender()}), rasa, HandoffPolicy())
    app = create_app(settings or Settings(), rasa=rasa, handoff=handoff, accounts=accounts)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    client.store, client.accounts = store, accounts
    return client


@pytest.fixture
def client(accounts):
    return make_client(accounts)


def booking(committee_id: str, sender_id: str) -> MediationBooking:
    return MediationBooking(
        sender_id=sender_id,
        dispute_type="邻里纠纷",
        parties="张三与李四",
        town="射埠镇",
        village=None,
        facts="宅基地界址争议",
        name="张三",
        phone="13900005678",
        committee_id=committee_id,
        slot_start=dt.datetime(2026, 12, 1, 9, 0),
    )


@pytest.fixture
def queue(client):
    """Three waiting escalations, as the bot opens them: a legal-aid intake and one booking per committee."""
    directory = ServiceDirectory.load(Settings().knowledge_base_dir)
    intake.submit(
        client.store,
        LegalAidApplication(
            sender_id="tg:1",
            name="李桂兰",
            phone="13800001234",
            town="花石镇",
            village="花石村",
            matter="追索劳动报酬",
            opponent="某建筑公司",
            facts="工地干了三个月没发工资",
            deadline=None,
            economic_status="低保户",
            eligibility_note="符合经济困难标准",
        ),
    )
    mediation.book(client.store, directory, booking(COMMITTEE_A, "tg:2"))
    mediation.book(client.store, directory, booking(COMMITTEE_B, "tg:3"))
    by_sender = {e.sender_id: e.id for e in client.store.escalations("waiting")}
    client.accounts.create("med_a", PASSWORD, Role.MEDIATOR, committees=(COMMITTEE_A,))
    return {"legal_aid": by_sender["tg:1"], "a": by_sender["tg:2"], "b": by_sender["tg:3"]}


# ---- 1. mediators see and act only on their committees' bookings ----------------------------------
def test_a_mediator_sees_only_their_committees_escalations(client, queue):
    login(client, "med_a")
    listed = {c["id"] for c in client.get("/console/escalations.json").json()["conversations"]}
    assert listed == {queue["a"]}
    page = client.get("/console/escalations").text
    assert f'href="/console/escalations/{queue["b"]}"' not in page
    assert f'href="/console/escalations/{queue["legal_aid"]}"' not in page
    for other in (queue["legal_aid"], queue["b"]):
        assert client.get(f"/console/escalations/{other}").status_code == 404
    assert client.get(f"/console/escalations/{queue['a']}").status_code == 200


def test_a_mediator_cannot_claim_reply_or_close_other_escalations(client, queue):
    csrf = login(client, "med_a")
    for other in (queue["legal_aid"], queue["b"]):
        for action in ("claim", "reply", "note", "close"):
            response = client.post(f"/console/escalations/{other}/{action}", data={"csrf": csrf, "text": "您好"})
            assert response.status_code == 404, (other, action)
        escalation = client.store.get_escalation(other)
        assert escalation.status == "waiting" and escalation.assignee is None
        assert client.store.messages(other) == []
    assert client.post(f"/console/escalations/{queue['a']}/claim", data={"csrf": csrf}).status_code == 303
    assert client.store.get_escalation(queue["a"]).assignee == "med_a"
    client.post(f"/console/escalations/{queue['a']}/reply", data={"csrf": csrf, "text": "您好，我是调解员"})
    assert [m.text for m in client.store.messages(queue["a"])][-1] == "您好，我是调解员"
    assert client.post(f"/console/escalations/{queue['a']}/close", data={"csrf": csrf}).status_code == 303
    assert client.store.get_escalation(queue["a"]).status == "closed"


def test_staff_still_see_every_escalation(client, queue):
    login(client, "wang")
    listed = {c["id"] for c in client.get("/console/escalations.json").json()["conversations"]}
    assert listed == set(queue.values())


# ---- 2. account management: each change logs the user out and is audited ---------------------------
@pytest.fixture
def admin_and_wang(accounts):
    """The admin's client (and CSRF token), and wang's client, logged in."""
    admin, wang = make_client(accounts), make_client(accounts)
    csrf = login(admin, "admin")
    login(wang, "wang")
    assert wang.get("/console/escalations").status_code == 200
    return admin, csrf, wang


def logged_out(client) -> bool:
    response = client.get("/console/escalations")
    return response.status_code == 303 and response.headers["location"].startswith("/console/login")


def last_audit(accounts, action: str):
    return next(e for e in accounts.audit_entries() if e.action == action)


def test_admin_disables_and_enables_an_account(admin_and_wang, accounts):
    admin, csrf, wang = admin_and_wang
    response = admin.post("/console/users/wang/disabled", data={"csrf": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/console/users?done=disabled"
    assert logged_out(wang) and not accounts.get("wang").active
    assert accounts.login("wang", PASSWORD) is None
    entry = last_audit(accounts, "user_disable")
    assert (entry.username, entry.target) == ("admin", "wang")
    assert "已停用账号" in admin.get(response.headers["location"]).text
    assert admin.post("/console/users/wang/enabled", data={"csrf": csrf}).status_code == 303
    assert accounts.get("wang").active and accounts.login("wang", PASSWORD) is not None
    assert last_audit(accounts, "user_enable").target == "wang"
    refused = admin.post("/console/users/wang/disabled", data={"csrf": "forged"})
    assert refused.status_code == 400 and accounts.get("wang").active
    assert admin.post("/console/users/admin/disabled", data={"csrf": csrf}).status_code == 400  # not oneself


def test_admin_resets_a_password(admin_and_wang, accounts):
    admin, csrf, wang = admin_and_wang
    new = "another-horse-43"
    assert admin.post("/console/users/wang/password", data={"csrf": csrf, "password": "short"}).status_code == 400
    assert not logged_out(wang)
    assert admin.post("/console/users/wang/password", data={"csrf": csrf, "password": new}).status_code == 303
    assert logged_out(wang)
    assert accounts.login("wang", PASSWORD) is None and accounts.login("wang", new) is not None
    assert last_audit(accounts, "user_password").target == "wang"


def test_admin_changes_a_role_and_committees(admin_and_wang, accounts):
    admin, csrf, wang = admin_and_wang
    form = {"csrf": csrf, "role": "mediator", "committees": [COMMITTEE_A]}
    assert admin.post("/console/users/wang/role", data=form).status_code == 303
    assert logged_out(wang)
    user = accounts.get("wang")
    assert user.role is Role.MEDIATOR and user.committees == (COMMITTEE_A,)
    entry = last_audit(accounts, "user_role")
    assert (entry.target, entry.detail) == ("wang", f"mediator {COMMITTEE_A}")
    no_committee = admin.post("/console/users/wang/role", data={"csrf": csrf, "role": "mediator"})
    assert no_committee.status_code == 400 and accounts.get("wang").committees == (COMMITTEE_A,)
    assert admin.post("/console/users/wang/role", data={"csrf": csrf, "role": "staff"}).status_code == 303
    assert accounts.get("wang").role is Role.STAFF and accounts.get("wang").committees == ()
    assert admin.post("/console/users/nobody/role", data={"csrf": csrf, "role": "staff"}).status_code == 404


def test_the_cli_manages_accounts_too(admin_and_wang, accounts, monkeypatch, capsys):
    from bot.entrypoints.cli import main

    _, _, wang = admin_and_wang
    monkeypatch.setenv("LEGAL_TRIAGE_DATABASE_URL", str(accounts._engine.url))
    assert main(["users", "disable", "wang"]) == 0
    assert logged_out(wang) and not accounts.get("wang").active
    assert last_audit(accounts, "user_disable").username == "cli"
    assert main(["users", "enable", "wang"]) == 0 and accounts.get("wang").active
    assert main(["users", "role", "wang", "mediator", "--committee", COMMITTEE_B]) == 0
    assert accounts.get("wang").committees == (COMMITTEE_B,)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("another-horse-43\n"))
    assert main(["users", "password", "wang", "--password-stdin"]) == 0
    assert accounts.login("wang", "another-horse-43") is not None
    assert main(["users", "disable", "nobody"]) == 1 and "ERROR" in capsys.readouterr().out


# ---- 3. login: CSRF, throttled per address and over all, off the event loop -----------------------------
def test_the_login_form_needs_its_own_csrf_token(client):
    forged = client.post("/console/login", data={"username": "wang", "password": PASSWORD})  # a cross-site form
    assert forged.status_code == 400 and COOKIE not in forged.headers.get("set-cookie", "")
    page = client.get("/console/login")
    assert LOGIN_COOKIE in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]
    attackers = re.search(r'name="csrf" value="([^"]+)"', from_address(client, "x").get("/console/login").text)
    form = {"username": "wang", "password": PASSWORD, "csrf": attackers.group(1)}
    mismatched = client.post("/console/login", data=form)  # a token, but not the one of this browser's cookie
    assert mismatched.status_code == 400 and COOKIE not in mismatched.headers.get("set-cookie", "")
    assert post_login(client, "wang").status_code == 303


def from_address(client, ip: str) -> TestClient:
    return TestClient(client.app, raise_server_exceptions=False, follow_redirects=False, client=(ip, 40000))


def test_login_is_throttled_per_address(client, accounts):
    attacker = from_address(client, "198.51.100.7")
    for i in range(MAX_IP_FAILURES):  # one guess per username: no username reaches its own limit
        assert post_login(attacker, f"user{i}", "guess").status_code == 401
    assert post_login(attacker, "wang").status_code == 429  # even a right password, from that address
    assert post_login(from_address(client, "203.0.113.9"), "wang").status_code == 303
    accounts.clock.now += FAILURE_WINDOW + dt.timedelta(seconds=1)
    assert post_login(attacker, "wang").status_code == 303


def test_login_is_throttled_over_all_usernames_and_addresses(client, accounts, monkeypatch):
    monkeypatch.setattr(accounts_module, "MAX_GLOBAL_FAILURES", 8)
    for i in range(8):  # a spread-out attack: a new address and username each time
        assert post_login(from_address(client, f"192.0.2.{i + 1}"), f"user{i}", "guess").status_code == 401
    assert post_login(from_address(client, "203.0.113.9"), "wang").status_code == 429
    accounts.clock.now += GLOBAL_WINDOW + dt.timedelta(seconds=1)
    assert post_login(from_address(client, "203.0.113.9"), "wang").status_code == 303


def test_a_login_does_not_block_other_requests(accounts, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    real = accounts.login

    def slow_login(*args, **kwargs):  # a login that takes as long as we like (scrypt on a busy machine)
        entered.set()
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(accounts, "login", slow_login)
    with make_client(accounts) as client:  # one event loop for every request, as under uvicorn
        first = threading.Thread(target=post_login, args=(client, "wang"))
        first.start()
        assert entered.wait(10)
        other: list[int] = []
        second = threading.Thread(target=lambda: other.append(client.get("/console/login").status_code))
        second.start()
        second.join(5)
        served_meanwhile = other == [200]
        release.set()
        first.join(20)
        second.join(20)
    assert served_meanwhile, "the login blocked the event loop"


# ---- 4. personal data seen is audited; API tokens act as an account, with its role, until they expire -------
def audited(accounts, action: str, target: str, username: str) -> bool:
    return any((e.action, e.target, e.username) == (action, target, username) for e in accounts.audit_entries())


def test_viewing_personal_data_is_audited(client, queue, accounts):
    login(client, "wang")
    assert client.get(f"/console/escalations/{queue['legal_aid']}").status_code == 200
    assert audited(accounts, "view", f"escalation:{queue['legal_aid']}", "wang")
    reference = client.store.get_escalation(queue["legal_aid"]).context["reference"]
    assert client.get(f"/console/applications/{reference}").status_code == 200
    assert audited(accounts, "view", f"application:{reference}", "wang")
    assert client.get(f"/console/applications/{reference}/print").status_code == 200
    assert audited(accounts, "print", f"application:{reference}", "wang")
    assert client.get("/console/applications.csv").status_code == 200
    assert audited(accounts, "export", "applications.csv", "wang")


TOKENS = "wang:tok-wang-1:2026-12-31,med_a:tok-med-a:2026-12-31,ghost:tok-ghost:2026-12-31,old:tok-old"


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def test_api_tokens_act_as_their_account_and_every_call_is_audited(queue, accounts):
    api = make_client(accounts, Settings(staff_tokens=TOKENS))
    listed = api.get("/api/staff/conversations", headers=bearer("tok-wang-1"))
    assert {c["id"] for c in listed.json()["conversations"]} == set(queue.values())
    assert audited(accounts, "api_list", "conversations:waiting", "wang")
    assert api.get(f"/api/staff/conversations/{queue['b']}", headers=bearer("tok-wang-1")).status_code == 200
    assert audited(accounts, "api_view", f"escalation:{queue['b']}", "wang")
    # a mediator's token: that mediator's committees only
    mine = api.get("/api/staff/conversations", headers=bearer("tok-med-a")).json()["conversations"]
    assert [c["id"] for c in mine] == [queue["a"]]
    for other in (queue["legal_aid"], queue["b"]):
        assert api.get(f"/api/staff/conversations/{other}", headers=bearer("tok-med-a")).status_code == 404
        assert api.post(f"/api/staff/conversations/{other}/claim", headers=bearer("tok-med-a")).status_code == 404
        reply = api.post(f"/api/staff/conversations/{other}/reply", headers=bearer("tok-med-a"), json={"text": "您好"})
        assert reply.status_code == 404 and api.store.messages(other) == []
        assert api.post(f"/api/staff/conversations/{other}/close", headers=bearer("tok-med-a")).status_code == 404
        assert api.store.get_escalation(other).status == "waiting"
    claimed = api.post(f"/api/staff/conversations/{queue['a']}/claim", headers=bearer("tok-med-a"))
    assert claimed.status_code == 200 and claimed.json()["conversation"]["assignee"] == "med_a"
    assert audited(accounts, "api_claim", f"escalation:{queue['a']}", "med_a")
    # no account, no expiry date, a disabled account, an expired token
    assert api.get("/api/staff/conversations", headers=bearer("tok-ghost")).status_code == 403
    assert api.get("/api/staff/conversations", headers=bearer("tok-old")).status_code == 401
    accounts.set_active("wang", False, by="admin")
    assert api.get("/api/staff/conversations", headers=bearer("tok-wang-1")).status_code == 403
    accounts.clock.now = dt.datetime(2027, 1, 1, 0, 0)
    expired = api.get("/api/staff/conversations", headers=bearer("tok-med-a"))
    assert expired.status_code == 401 and "expired" in expired.json()["error"]


# ---- 5. the lows ----------------------------------------------------------------------------------------
PHISHING = "系统升级，请立即拨打 400-000-0000 并提供验证码"


def test_messages_in_the_address_are_never_shown(client, queue):
    login(client, "wang")
    page = client.get(f"/console/escalations/{queue['a']}", params={"error": PHISHING})
    assert page.status_code == 200 and PHISHING not in page.text and 'class="error"' not in page.text
    assert "已被别人接待" in client.get(f"/console/escalations/{queue['a']}", params={"error": "taken"}).text
    login(client, "admin")
    for name in ("done", "created", "error", "msg"):
        assert PHISHING not in client.get("/console/users", params={name: PHISHING}).text
    login(client, "pufa")
    versions = client.get("/console/faq/versions", params={"msg": PHISHING, "done": PHISHING})
    assert versions.status_code == 200 and PHISHING not in versions.text


def test_the_session_cookie_is_secure_by_default(accounts, monkeypatch):
    monkeypatch.delenv("LEGAL_TRIAGE_CONSOLE_SECURE_COOKIE", raising=False)
    assert Settings().console_secure_cookie
    client = make_client(accounts, Settings())
    assert "Secure" in client.get("/console/login").headers["set-cookie"]  # the login form's token too
    response = post_login(client, "wang", origin="https://testserver")
    assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]
    monkeypatch.setenv("LEGAL_TRIAGE_CONSOLE_SECURE_COOKIE", "0")  # plain-HTTP development
    assert "Secure" not in make_client(accounts, Settings()).get("/console/login").headers["set-cookie"]


def test_the_closed_queue_is_paged_newest_first(client):
    from bot.domain import Escalation
    from bot.web.console.pages import CLOSED_PAGE

    ids = []
    for i in range(CLOSED_PAGE * 2 + 7):
        escalation = client.store.add_escalation(Escalation(sender_id=f"tg:{i}", reason="request", priority=1))
        client.store.close_escalation(escalation.id, "wang")
        ids.append(escalation.id)
    login(client, "wang")
    first = client.get("/console/escalations.json", params={"status": "closed"}).json()
    assert [c["id"] for c in first["conversations"]] == ids[::-1][:CLOSED_PAGE] and first["more"]
    last = client.get("/console/escalations.json", params={"status": "closed", "page": 2}).json()
    assert [c["id"] for c in last["conversations"]] == ids[::-1][2 * CLOSED_PAGE :] and not last["more"]
    page = client.get("/console/escalations", params={"status": "closed", "page": 1}).text
    assert "较早的" in page and "较新的" in page and page.count('href="/console/escalations/') == CLOSED_PAGE
    assert client.get("/console/escalations.json", params={"status": "closed", "page": -1}).status_code == 400


def test_a_draft_left_publishing_is_recovered_at_start_up(accounts):
    from sqlalchemy import insert, select

    from bot.storage.schema import faq_drafts

    now = dt.datetime(2026, 11, 26, 9, 0)
    with accounts._engine.begin() as conn:  # the process stopped while publishing this draft
        draft_id = conn.execute(
            insert(faq_drafts).values(
                entry_id="family-001", data="{}", status="publishing", author="pufa", created_at=now, updated_at=now
            )
        ).inserted_primary_key[0]
    client = make_client(accounts)
    with client:  # the console starts again (its start-up runs)
        assert client.get("/console/login").status_code == 200
    with accounts._engine.connect() as conn:
        status = conn.execute(select(faq_drafts.c.status).where(faq_drafts.c.id == draft_id)).scalar_one()
    assert status == "review"
    assert audited(accounts, "faq_publish_recovered", "faq:family-001", "system")
