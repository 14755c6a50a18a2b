"""Erasure on request from the console: administrators only, with the CSRF token and a confirmation;
the citizen's data is gone and the audit log names the administrator and a pseudonym."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.domain import ConversationMessage, Escalation
from bot.privacy import hashed
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, WebOutbox
from bot.settings import Settings
from bot.storage.schema import audit_log
from bot.storage.sql import SqlCaseStore, make_engine
from bot.web.app import create_app
from tests.fakes.rasa import FakeRasa
from tests.support.console import login
from tests.unit.services.test_retention import application

SENDER = "tg:777001"


@pytest.fixture
def client(accounts, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'console.db'}")  # the accounts fixture's database
    store = SqlCaseStore(engine)
    rasa = FakeRasa()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store)}), rasa, HandoffPolicy())
    settings = Settings(data_dir=tmp_path, rasa_tracker_url=f"sqlite:///{tmp_path / 'no_tracker.db'}")
    client = TestClient(
        create_app(settings, rasa=rasa, handoff=handoff, accounts=accounts),
        raise_server_exceptions=False,
        follow_redirects=False,
    )
    client.store, client.engine = store, engine
    stored = store.add_application(application(SENDER))
    escalation = store.add_escalation(Escalation(sender_id=SENDER, reason="request", priority=1))
    store.add_message(ConversationMessage(escalation.id, "citizen", "我电话13812345678"))
    client.reference = stored.reference
    return client


def test_an_administrator_erases_a_citizen(client):
    csrf = login(client, "admin")
    assert 'id="privacy-erase"' in client.get("/console/users").text
    page = client.post("/console/privacy/erase", data={"csrf": csrf, "who": SENDER, "confirmed": "yes"})
    assert page.status_code == 200 and 'id="erased"' in page.text and "legal_aid_applications</td><td>1" in page.text
    assert client.store.find(client.reference) is None and client.store.open_escalation(SENDER) is None
    with client.engine.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.action == "data_erase")).mappings().one()
    assert row["username"] == "admin" and row["target"] == hashed(SENDER) and "777001" not in str(dict(row))


def test_only_administrators_with_the_token_and_a_confirmation(client):
    csrf = login(client, "wang")  # staff: no account management
    assert client.get("/console/privacy/erase").status_code == 403
    assert (
        client.post("/console/privacy/erase", data={"csrf": csrf, "who": SENDER, "confirmed": "yes"}).status_code == 403
    )
    csrf = login(client, "admin")
    assert (
        client.post("/console/privacy/erase", data={"csrf": "forged", "who": SENDER, "confirmed": "yes"}).status_code
        == 400
    )
    unconfirmed = client.post("/console/privacy/erase", data={"csrf": csrf, "who": SENDER})
    assert unconfirmed.status_code == 400 and "请先勾选确认" in unconfirmed.text
    assert (
        client.post("/console/privacy/erase", data={"csrf": csrf, "who": "张三", "confirmed": "yes"}).status_code == 400
    )
    assert client.store.find(client.reference) is not None  # nothing erased by any of these
