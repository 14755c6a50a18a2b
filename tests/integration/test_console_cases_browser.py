"""Legal-aid applications and mediation bookings in the console (headless Chromium on an office PC),
with the citizen's web chat on a phone: a status change with 通知群众 reaches the citizen's page."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bot.domain import ApplicationStatus, LegalAidApplication, MediationBooking
from bot.services.accounts import Accounts, Role
from bot.storage.sql import SqlCaseStore, make_engine
from bot.web.app import SENDER_COOKIE, signed_sender
from tests.integration.conftest import follow, patient_wait
from tests.support.stack import WEB_SECRET

pytestmark = pytest.mark.integration
PASSWORD = "county-bureau-2026"


def test_status_change_reaches_the_citizen(stack, web_url, browser, desk_browser, screenshots):
    engine = make_engine(stack.env["LEGAL_TRIAGE_DATABASE_URL"])
    Accounts(engine).create("chen", PASSWORD, Role.STAFF, "陈干事")
    store = SqlCaseStore(engine)
    sender = f"web:{uuid.uuid4()}"
    application = store.add_application(
        LegalAidApplication(
            sender_id=sender,
            name="李桂兰",
            phone="13800001234",
            town="花石镇",
            village="花石村",
            matter="追索劳动报酬",
            opponent="湘潭某建筑公司",
            facts="在工地干了三个月，老板一直拖欠工资共一万二千元。",
            deadline=None,
            economic_status="低保户",
            eligibility_note="追索劳动报酬，属法律援助事项范围",
        )
    )
    store.add_booking(
        MediationBooking(
            sender_id="web:other",
            dispute_type="邻里纠纷",
            parties="张三与李四",
            town="射埠镇",
            village=None,
            facts="宅基地界址争议",
            name="张三",
            phone="13900005678",
            committee_id="county-marriage-family",
            slot_start=dt.datetime.combine(dt.date.today() + dt.timedelta(days=2), dt.time(9, 0)),
        ),
        capacity=2,
    )
    citizen, staff = browser, desk_browser
    wait_citizen, wait_staff = patient_wait(citizen, 60), patient_wait(staff, 60)

    # the citizen's phone already holds its sender id: the cookie the server signed for it
    citizen.get(f"{web_url}/chat")
    citizen.execute_cdp_cmd(
        "Network.setCookie",
        {
            "url": f"{web_url}/api/chat",
            "name": SENDER_COOKIE,
            "value": signed_sender(WEB_SECRET.encode(), sender),
            "path": "/api/chat",
            "httpOnly": True,
            "sameSite": "Strict",
        },
    )
    citizen.refresh()

    staff.get(f"{web_url}/console/applications")
    assert "/console/login" in staff.current_url
    staff.find_element("id", "username").send_keys("chen")
    staff.find_element("id", "password").send_keys(PASSWORD)
    follow(staff, "login")
    wait_staff.until(lambda d: "法律援助申请" in d.title)
    staff.find_element("id", "q").send_keys("花石")
    follow(staff, "search")
    wait_staff.until(lambda d: "q=" in d.current_url)
    assert application.reference in staff.page_source
    staff.save_screenshot(str(screenshots / "console_applications.png"))

    follow(staff, staff.find_element("link text", application.reference))
    wait_staff.until(lambda d: application.reference in d.title)
    assert "13800001234" in staff.page_source  # the phone in full for staff
    staff.find_element("id", "to-reviewing").click()
    staff.find_element("id", "reason").send_keys("材料齐全，进入审查")
    staff.find_element("id", "notify").click()
    follow(staff, "change-status")
    wait_staff.until(lambda d: d.find_elements("id", "done"))
    assert not staff.find_elements("id", "warning")
    assert "材料齐全，进入审查" in staff.find_element("id", "events").text
    staff.save_screenshot(str(screenshots / "console_application_detail.png"))
    assert store.find(application.reference).status is ApplicationStatus.REVIEWING  # the bot's status check

    wait_citizen.until(
        lambda d: any(
            application.reference in e.text and "审查中" in e.text
            for e in d.find_elements("css selector", ".row.staff .bubble")
        )
    )
    citizen.save_screenshot(str(screenshots / "web_chat_case_status.png"))

    follow(staff, "print-link")
    wait_staff.until(lambda d: "法律援助申请表" in d.page_source)
    staff.save_screenshot(str(screenshots / "console_application_print.png"))

    staff.get(f"{web_url}/console/bookings")
    wait_staff.until(lambda d: "调解预约" in d.title)
    assert "张三" in staff.page_source and "邻里纠纷" in staff.page_source
    staff.save_screenshot(str(screenshots / "console_bookings.png"))
