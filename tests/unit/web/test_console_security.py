"""Security audit of the staff side (issue 14): mediators' scope, account management, login throttling
and CSRF, audit of personal-data views, account-bound API tokens, and the lows.

Each test reproduces a finding against the real app (TestClient) over a real SQLite database."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from bot.domain import LegalAidApplication, MediationBooking
from bot.knowledge.directory import ServiceDirectory
from bot.services import intake, mediation
from bot.services.accounts import Role
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, RecordingSender, WebOutbox
from bot.settings import Settings
from bot.storage.sql import SqlCaseStore
from bot.web.app import create_app
from tests.fakes.rasa import FakeRasa
from tests.support.console import PASSWORD, login

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
