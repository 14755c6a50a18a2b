"""Console area "cases": applications and bookings lists, detail, status workflow, notify, print, export,
and the mediation schedules."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.domain import ApplicationStatus, BookingStatus, LegalAidApplication, MediationBooking
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, RecordingSender, WebOutbox
from bot.settings import Settings
from bot.storage.sql import SqlCaseStore
from bot.web.app import create_app
from bot.web.console.cases import case_events
from bot.web.console.pages import AREAS
from tests.fakes.rasa import FakeRasa
from tests.support.console import login


def application(**changes) -> LegalAidApplication:
    values = dict(
        sender_id="tg:42",
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
    )
    return LegalAidApplication(**{**values, **changes})


def booking(**changes) -> MediationBooking:
    values = dict(
        sender_id="web:abc",
        dispute_type="邻里纠纷",
        parties="张三与李四",
        town="射埠镇",
        village=None,
        facts="宅基地界址争议",
        name="张三",
        phone="13900005678",
        committee_id="town-430321101",
        slot_start=dt.datetime(2026, 12, 1, 9, 0),
    )
    return MediationBooking(**{**values, **changes})


@pytest.fixture
def cases(accounts):  # noqa: F811 - the fixture from tests.unit.web.test_console
    engine = accounts._engine  # the same SQLite file as the accounts
    store = SqlCaseStore(engine)
    telegram, web = RecordingSender(), WebOutbox(store)
    rasa = FakeRasa()
    handoff = Handoff(store, Outbound({"web": web, "tg": telegram}), rasa, HandoffPolicy())
    app = create_app(Settings(), rasa=rasa, handoff=handoff, accounts=accounts)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    client.store, client.telegram, client.engine = store, telegram, engine
    return client


def test_the_area_is_mounted():
    assert "cases" in AREAS


def test_application_list_search_and_filters(cases):
    first = cases.store.add_application(application())
    cases.store.add_application(application(name="王五", town="易俗河镇", matter="离婚"))
    login(cases)
    page = cases.get("/console/applications")
    assert page.status_code == 200 and first.reference in page.text and "王五" in page.text
    assert '<link rel="stylesheet" href="/console/static/cases.css">' in page.text
    assert "王五" not in cases.get("/console/applications", params={"q": "李桂兰"}).text
    assert "李桂兰" not in cases.get("/console/applications", params={"town": "易俗河"}).text
    assert "李桂兰" not in cases.get("/console/applications", params={"matter": "离婚"}).text
    assert "王五" not in cases.get("/console/applications", params={"q": first.reference.lower()}).text
    assert "没有符合条件" in cases.get("/console/applications", params={"status": "closed"}).text
    today = dt.date.today()
    assert "李桂兰" in cases.get("/console/applications", params={"date_from": str(today), "date_to": str(today)}).text
    later = str(today + dt.timedelta(days=1))
    assert "李桂兰" not in cases.get("/console/applications", params={"date_from": later}).text
    bad = cases.get("/console/applications", params={"date_from": "昨天"})
    assert bad.status_code == 200 and "日期格式" in bad.text and 'value="昨天"' in bad.text
    assert cases.get("/console/static/cases.css").headers["content-type"].startswith("text/css")


def test_detail_shows_every_field_and_phone_in_full(cases):
    app = cases.store.add_application(application())
    login(cases)
    page = cases.get(f"/console/applications/{app.reference}").text
    for value in (
        "李桂兰",
        "13800001234",
        "花石村",
        "某建筑公司",
        "工地干了三个月没发工资",
        "低保户",
        "符合经济困难标准",
        "Telegram",
    ):
        assert value in page
    assert 'value="reviewing"' in page and 'value="accepted"' not in page  # only the allowed next step
    assert cases.get("/console/applications/LA-20000101-9999").status_code == 404
    printed = cases.get(f"/console/applications/{app.reference}/print")
    assert printed.status_code == 200 and "法律援助申请表" in printed.text and "13800001234" in printed.text
    assert '<script src="/console/static/cases.js">' in printed.text and "onclick" not in printed.text


def test_status_workflow_is_enforced_and_recorded(cases, accounts):  # noqa: F811
    app = cases.store.add_application(application())
    url = f"/console/applications/{app.reference}"
    csrf = login(cases)
    assert cases.post(f"{url}/status", data={"csrf": "forged", "status": "reviewing"}).status_code == 400
    skipped = cases.post(f"{url}/status", data={"csrf": csrf, "status": "accepted"})
    assert skipped.status_code == 400 and "不能改为" in skipped.text
    assert cases.store.find(app.reference).status is ApplicationStatus.RECEIVED
    done = cases.post(f"{url}/status", data={"csrf": csrf, "status": "reviewing"})
    assert done.status_code == 303 and done.headers["location"] == f"{url}?done=1"
    no_reason = cases.post(f"{url}/status", data={"csrf": csrf, "status": "rejected", "notify": "1", "reason": "  "})
    assert no_reason.status_code == 400 and "理由" in no_reason.text and 'id="notify" checked' in no_reason.text
    cases.post(f"{url}/status", data={"csrf": csrf, "status": "rejected", "reason": "不属于法律援助事项范围"})
    found = cases.store.find(app.reference)  # the citizen's own status check in the bot
    assert found.status is ApplicationStatus.REJECTED
    with cases.engine.connect() as conn:
        events = conn.execute(select(case_events).order_by(case_events.c.id)).mappings().all()
    assert [(e["status"], e["by"]) for e in events] == [("reviewing", "wang"), ("rejected", "wang")]
    assert events[1]["reason"] == "不属于法律援助事项范围"
    page = cases.get(url).text
    assert "不属于法律援助事项范围" in page and 'value="closed"' in page
    cases.post(f"{url}/status", data={"csrf": csrf, "status": "closed"})
    assert "已是最终状态" in cases.get(url).text
    assert cases.telegram.sent == []  # nothing sent without 通知群众
    actions = [(e.username, e.action, e.target) for e in accounts.audit_entries()]
    assert ("wang", "case_status", f"application:{app.reference}") in actions


def test_notify_sends_the_new_status_in_chinese(cases):
    app = cases.store.add_application(application())
    csrf = login(cases)
    cases.post(
        f"/console/applications/{app.reference}/status", data={"csrf": csrf, "status": "reviewing", "notify": "1"}
    )
    [(sender, message)] = cases.telegram.sent
    assert sender == "tg:42" and app.reference in message.text and "审查中" in message.text


def test_a_failed_notice_warns_but_the_status_changes(cases):
    app = cases.store.add_application(application(sender_id="wx:nobody"))  # no WeChat sender configured
    csrf = login(cases)
    response = cases.post(
        f"/console/applications/{app.reference}/status", data={"csrf": csrf, "status": "reviewing", "notify": "1"}
    )
    assert "warn=delivery" in response.headers["location"]
    assert "通知没有发出去" in cases.get(response.headers["location"]).text
    assert cases.store.find(app.reference).status is ApplicationStatus.REVIEWING


def test_booking_workflow_with_cancel_and_web_notice(cases):
    first = cases.store.add_booking(booking(), capacity=2)
    second = cases.store.add_booking(booking(name="赵六"), capacity=2)
    csrf = login(cases)
    page = cases.get("/console/bookings").text
    assert first.reference in page and "2026-12-01 09:00" in page and 'href="/console/schedules"' in page
    url = f"/console/bookings/{first.reference}"
    detail = cases.get(url).text
    assert 'value="confirmed"' in detail and 'value="cancelled"' in detail and "13900005678" in detail
    for step in ("confirmed", "held", "settled"):
        assert cases.post(f"{url}/status", data={"csrf": csrf, "status": step}).status_code == 303
    assert cases.store.find(first.reference).status is BookingStatus.SETTLED
    assert cases.post(f"{url}/status", data={"csrf": csrf, "status": "cancelled"}).status_code == 400
    cases.post(
        f"/console/bookings/{second.reference}/status", data={"csrf": csrf, "status": "cancelled", "notify": "1"}
    )
    [(_, message)] = cases.store.outbox("web:abc")
    assert "已取消" in message["text"] and message["author"] == "staff"
    assert cases.get(f"/console/bookings/{second.reference}/print").status_code == 200


def test_roles_limit_the_pages(cases, accounts):  # noqa: F811
    from bot.services.accounts import Role

    accounts.create("liu", "correct-horse-42", Role.MEDIATOR, display_name="刘")
    assert cases.get("/console/applications").status_code == 303  # no login
    login(cases, "liu")
    assert cases.get("/console/applications").status_code == 403
    assert cases.get("/console/applications.csv").status_code == 403
    assert cases.get("/console/bookings").status_code == 200
    login(cases, "pufa")
    assert cases.get("/console/bookings").status_code == 403


def test_exports_follow_the_filters(cases):
    cases.store.add_application(application())
    cases.store.add_application(application(name="=HYPERLINK(1)", town="易俗河镇"))
    login(cases)
    response = cases.get("/console/applications.csv", params={"town": "花石"})
    assert response.content.startswith(b"\xef\xbb\xbf") and "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号", "申请人", "电话"] and len(rows) == 2 and rows[1][1] == "李桂兰"
    everything = list(csv.reader(io.StringIO(cases.get("/console/applications.csv").content.decode("utf-8-sig"))))
    assert any(r[1] == "'=HYPERLINK(1)" for r in everything)  # no formula injection
    from openpyxl import load_workbook

    xlsx = cases.get("/console/applications.xlsx", params={"status": "received"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row == 3 and sheet["B1"].value == "申请人"
    cases.store.add_booking(booking(), capacity=2)
    booked = cases.get("/console/bookings.xlsx")
    assert load_workbook(io.BytesIO(booked.content)).active["D2"].value == "邻里纠纷"
    assert cases.get("/console/bookings.csv").content.decode("utf-8-sig").count("\n") == 2


def test_mediators_set_committee_schedules(cases, accounts):  # noqa: F811
    csrf = login(cases)
    page = cases.get("/console/schedules")
    assert page.status_code == 200 and "湘潭县婚姻家庭纠纷人民调解委员会" in page.text
    committee = re.search(r'<option value="(town-[^"]+)"', page.text).group(1)
    bad = cases.post(
        "/console/schedules",
        data={"csrf": csrf, "committee_id": committee, "weekday": "2", "time": "9点", "capacity": "3"},
    )
    assert bad.status_code == 400 and "时间格式" in bad.text and 'value="9点"' in bad.text
    ok = cases.post(
        "/console/schedules",
        data={"csrf": csrf, "committee_id": committee, "weekday": "2", "time": "09:30", "capacity": "3"},
    )
    assert ok.status_code == 303
    cases.post(
        "/console/schedules",
        data={"csrf": csrf, "committee_id": committee, "weekday": "2", "time": "09:30", "capacity": "4"},
    )
    page = cases.get("/console/schedules").text
    assert "星期三" in page and "09:30" in page and "<td>4</td>" in page and "<td>3</td>" not in page
    schedule_id = re.search(r"/console/schedules/(\d+)/delete", page).group(1)
    assert cases.post(f"/console/schedules/{schedule_id}/delete", data={"csrf": csrf}).status_code == 303
    assert "还没有单独设置的排班" in cases.get("/console/schedules").text
    assert ("wang", "schedule_set") in [(e.username, e.action) for e in accounts.audit_entries()]


def test_mediators_see_only_their_committees_bookings(tmp_path):
    """A mediator account is tied to committees; other committees' bookings and schedules stay hidden."""
    import datetime as dt
    import re

    from fastapi.testclient import TestClient

    from bot.domain import MediationBooking
    from bot.services.accounts import Accounts, Role
    from bot.services.handoff import Handoff, HandoffPolicy
    from bot.services.outbound import Outbound
    from bot.settings import Settings
    from bot.storage.sql import SqlCaseStore, make_engine, upgrade
    from bot.web.app import create_app
    from tests.fakes.rasa import FakeRasa
    from tests.support.console import PASSWORD

    url = f"sqlite:///{tmp_path / 'scope.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = SqlCaseStore(engine)
    mine, theirs = (
        store.add_booking(
            MediationBooking(
                sender_id="web:x",
                dispute_type="邻里纠纷",
                parties="邻居",
                town="花石镇",
                village=None,
                facts="砌墙",
                name=name,
                phone="13912345678",
                committee_id=committee,
                slot_start=dt.datetime(2026, 12, 1, 9),
            ),
            5,
        )
        for name, committee in (("李四", "town-430321100"), ("王五", "county-marriage-family"))
    )
    accounts = Accounts(engine)
    accounts.create("tiaojie", PASSWORD, Role.MEDIATOR, committees=("town-430321100",))
    app = create_app(
        Settings(database_url=url),
        rasa=FakeRasa(),
        handoff=Handoff(store, Outbound(), FakeRasa(), HandoffPolicy()),
        accounts=accounts,
    )
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    login(client, "tiaojie")
    listing = client.get("/console/bookings").text
    assert mine.reference in listing and theirs.reference not in listing
    assert client.get(f"/console/bookings/{theirs.reference}").status_code == 404
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/console/bookings/{mine.reference}").text).group(1)
    refused = client.post(f"/console/bookings/{theirs.reference}/status", data={"csrf": csrf, "status": "confirmed"})
    assert refused.status_code == 404 and store.find(theirs.reference).status.value == "booked"
    refused = client.post(
        "/console/schedules",
        data={"csrf": csrf, "committee_id": "county-marriage-family", "weekday": "1", "time": "09:00", "capacity": "2"},
    )
    assert refused.status_code == 400
