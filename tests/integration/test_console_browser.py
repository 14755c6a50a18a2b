"""The staff console in headless Chromium on an office-PC screen, with a citizen in the web chat on a
phone: login, the live queue, claim, reply (it reaches the citizen's page), internal note, close."""

from __future__ import annotations

import pytest

from bot.services.accounts import Accounts, Role
from bot.storage.sql import make_engine
from tests.integration.conftest import follow, patient_wait

pytestmark = pytest.mark.integration
PASSWORD = "county-bureau-2026"


def bubbles(driver, css: str) -> list[str]:
    return [e.text for e in driver.find_elements("css selector", css)]


def test_handoff_loop_through_the_console(stack, web_url, browser, desk_browser, screenshots):
    Accounts(make_engine(stack.env["LEGAL_TRIAGE_DATABASE_URL"])).create("zhang", PASSWORD, Role.STAFF, "张干事")
    citizen, staff = browser, desk_browser
    wait_citizen, wait_staff = patient_wait(citizen, 60), patient_wait(staff, 60)

    staff.get(f"{web_url}/console/escalations")
    assert "/console/login" in staff.current_url
    staff.find_element("id", "username").send_keys("zhang")
    staff.find_element("id", "password").send_keys("wrong-password")
    follow(staff, "login")
    assert "用户名或密码不对" in staff.page_source
    staff.find_element("id", "username").clear()
    staff.find_element("id", "username").send_keys("zhang")
    staff.find_element("id", "password").send_keys(PASSWORD)
    staff.save_screenshot(str(screenshots / "console_login.png"))
    follow(staff, "login")
    wait_staff.until(lambda d: "转人工会话" in d.title)
    before = len(staff.find_elements("css selector", "#rows tr:not(.empty)"))

    # the citizen asks for a person; the queue shows it without a reload
    citizen.get(f"{web_url}/chat")
    citizen.execute_script("localStorage.clear()")
    citizen.refresh()
    citizen.find_element("id", "text").send_keys("我家宅基地被邻居占了，我要找工作人员")
    citizen.find_element("id", "send").click()
    citizen.find_element("id", "human").click()
    wait_citizen.until(lambda d: "已转人工" in d.find_element("id", "mode").text)
    wait_staff.until(lambda d: len(d.find_elements("css selector", "#rows tr:not(.empty)")) == before + 1)
    staff.save_screenshot(str(screenshots / "console_queue.png"))

    follow(staff, staff.find_elements("css selector", "#rows tr a")[-1])
    wait_staff.until(lambda d: "会话 #" in d.title)
    assert "我家宅基地被邻居占了" in staff.page_source  # the bot conversation, from Rasa's tracker
    assert "理解为：" in staff.page_source  # with what the bot understood (intent, confidence, topic, FAQ)
    follow(staff, "claim")
    wait_staff.until(lambda d: d.find_elements("id", "reply-text"))
    staff.find_element("id", "reply-text").send_keys("您好，我是花石司法所张干事，请问两家的界址有没有证？")
    follow(staff, "reply")
    staff.find_element("id", "note-text").send_keys("需核对宅基地使用权证")
    follow(staff, "note")
    wait_staff.until(lambda d: "需核对宅基地使用权证" in d.page_source)
    staff.save_screenshot(str(screenshots / "console_conversation.png"))

    wait_citizen.until(lambda d: any("张干事" in t for t in bubbles(d, ".row.staff .bubble")))
    assert not any("需核对" in t for t in bubbles(citizen, ".bubble"))  # internal notes stay internal
    follow(staff, "close")
    wait_citizen.until(lambda d: any("小助手继续为您服务" in t for t in bubbles(d, ".row.staff .bubble")))
    citizen.save_screenshot(str(screenshots / "web_chat_after_console.png"))
