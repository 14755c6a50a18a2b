"""The statistics page in headless Chromium, on an office-PC screen and on a phone: a seeded month plus
one real chat turn through Rasa, the SVG charts, the big numbers, a CSV export link."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import insert

from bot.services.accounts import Accounts, Role
from bot.storage.sql import bookings, consultations, make_engine, unanswered_questions
from bot.web.console import stats
from tests.integration.conftest import emulate, follow, patient_wait

pytestmark = pytest.mark.integration
PASSWORD = "county-bureau-2026"


def seed(engine, today: dt.date) -> None:
    when = dt.datetime.combine(today, dt.time(9, 30))
    with engine.begin() as conn:
        conn.execute(
            insert(consultations),
            [
                {
                    "at": when - dt.timedelta(days=d),
                    "sender_hash": f"e2e{d % 4}",
                    "channel": c,
                    "topic": t,
                    "town": "统计测试镇",
                    "kind": k,
                }
                for d, c, t, k in (
                    (0, "web", "劳动纠纷", "confident"),
                    (1, "wx", "劳动纠纷", "statute"),
                    (3, "tg", "婚姻家庭", "none"),
                    (8, "web", "婚姻家庭", "chosen"),
                    (15, "web", "债权债务", "suggest"),
                    (20, "wx", "劳动纠纷", "confident"),
                )
            ],
        )
        conn.execute(
            insert(bookings),
            [
                {
                    "reference": f"E2E-TJ-{n}",
                    "sender_id": "web:e2e",
                    "dispute_type": "邻里纠纷",
                    "parties": "—",
                    "town": "统计测试镇",
                    "facts": "—",
                    "name": "—",
                    "phone": "—",
                    "committee_id": "c1",
                    "slot_start": when,
                    "status": status,
                    "created_at": when,
                    "updated_at": when,
                }
                for n, status in enumerate(("settled", "settled", "not_settled", "booked"))
            ],
        )
        conn.execute(
            insert(unanswered_questions),
            [{"at": when, "channel": "web", "text": "<i>鱼塘</i>承包到期怎么办", "reason": "none"}] * 2,
        )


def test_statistics_page_on_a_desk_and_a_phone(stack, web_url, desk_browser, screenshots):
    url = stack.env["LEGAL_TRIAGE_DATABASE_URL"]
    engine = make_engine(url)
    Accounts(engine).create("tongji", PASSWORD, Role.PUBLICITY, "统计员")
    today = dt.date.today()
    seed(engine, today)
    stack.say("web:e2e-stats", "工资被拖欠了三个月怎么办")  # a real turn: the action server records it

    driver = desk_browser
    driver.get(f"{web_url}/console/stats")
    assert "/console/login" in driver.current_url
    driver.find_element("id", "username").send_keys("tongji")
    driver.find_element("id", "password").send_keys(PASSWORD)
    follow(driver, "login")
    patient_wait(driver, 30).until(lambda d: "统计" in d.title and d.find_elements("id", "answer-rate"))

    first = today - dt.timedelta(days=29)
    answered = stats.answer_rate(engine, first, today)
    assert answered.denominator >= 7  # six seeded and the real chat turn
    assert driver.find_element("id", "answer-rate").text == answered.percent
    assert (
        driver.find_element("id", "settlement-rate").text
        == stats.mediation_summary(engine, first, today).settlement.percent
    )
    towns = driver.find_element("id", "chart-towns")
    assert towns.find_elements("css selector", "svg rect")
    assert any(t.get_attribute("textContent") == "统计测试镇：6" for t in towns.find_elements("css selector", "title"))
    assert len(driver.find_elements("css selector", "#chart-daily svg rect")) == 30
    assert "<i>鱼塘</i>承包到期怎么办" in driver.find_element("id", "chart-unanswered").text  # shown as text
    driver.save_screenshot(str(screenshots / "console_stats_desk.png"))

    # the CSV link works with the browser's session cookie
    link = driver.find_element("css selector", "#chart-towns a.csv").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    csv = httpx.get(link, cookies=cookies, timeout=30)
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf") and "统计测试镇,6" in csv.text

    # a narrower range from the form
    # date inputs are typed differently in each browser's locale; set them as the picker would
    driver.execute_script(
        "document.getElementById('from').value = arguments[0];document.getElementById('to').value = arguments[1];",
        (today - dt.timedelta(days=2)).isoformat(),
        today.isoformat(),
    )
    follow(driver, "apply")
    patient_wait(driver, 30).until(lambda d: f"from={(today - dt.timedelta(days=2)).isoformat()}" in d.current_url)
    assert len(driver.find_elements("css selector", "#chart-daily svg rect")) == 3

    try:
        emulate(driver, 390, 844, mobile=True)
        driver.get(f"{web_url}/console/stats")
        patient_wait(driver, 30).until(lambda d: d.find_elements("id", "answer-rate"))
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
        driver.save_screenshot(str(screenshots / "console_stats_phone.png"))
    finally:
        emulate(driver, 1280, 800, mobile=False)
