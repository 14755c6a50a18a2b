"""The web chat in a real headless Chromium at phone size, against the real bot."""

from __future__ import annotations

import time

import pytest

from bot.web.app import SENDER_COOKIE
from tests.integration.conftest import patient_wait

pytestmark = pytest.mark.integration


def sender_of(driver) -> str:
    """The sender id the server issued this browser (its HttpOnly cookie, read through Chromium's CDP)."""
    cookies = driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
    value = next(c["value"] for c in cookies if c["name"] == SENDER_COOKIE)
    assert next(c for c in cookies if c["name"] == SENDER_COOKIE)["httpOnly"]  # never readable by the page
    return value.strip('"').rsplit(".", 1)[0]  # quoted when it holds ":"


def bot_texts(driver) -> list[str]:
    return [e.text for e in driver.find_elements("css selector", ".row.bot .bubble")]


def test_chat_on_a_phone(web_url, browser, staff_api, screenshots):
    url = web_url
    wait = patient_wait(browser, 60)
    browser.get(f"{url}/chat")
    assert "法律咨询" in browser.title
    box = browser.find_element("id", "text")
    box.send_keys("你好")
    browser.find_element("id", "send").click()
    wait.until(lambda d: len(bot_texts(d)) >= 2)
    assert "法律援助" in bot_texts(browser)[-1]
    # quick replies are buttons; tapping one starts the legal-aid intake
    button = next(b for b in browser.find_elements("css selector", ".buttons button") if b.text == "申请法律援助")
    button.click()
    wait.until(lambda d: any("选择" in t for t in bot_texts(d)))
    options = browser.find_elements("css selector", ".row.bot:last-child .buttons button")
    assert len(options) == 9
    shots = screenshots
    browser.save_screenshot(str(shots / "web_chat_legal_aid.png"))
    # the sender id survives a reload (reconnect without losing the conversation); the page never holds it
    sender = sender_of(browser)
    assert sender.startswith("web:") and browser.execute_script("return localStorage.getItem('lt_sender')") is None
    browser.refresh()
    assert sender_of(browser) == sender
    browser.find_element("id", "human").click()
    wait.until(lambda d: any("已为您转接人工" in t for t in bot_texts(d)))
    widths = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[1] == 390 and widths[0] <= widths[1]  # no horizontal scrolling on a phone
    wait.until(lambda d: "已转人工" in d.find_element("id", "mode").text)
    # a person takes over: the staff reply appears in the page without the citizen doing anything
    waiting = staff_api.get("/conversations").json()["conversations"]
    conversation = next(c for c in waiting if c["sender_id"] == sender)
    assert conversation["channel"] == "web"
    staff_api.post(f"/conversations/{conversation['id']}/claim").raise_for_status()
    staff_api.post(f"/conversations/{conversation['id']}/reply", json={"text": "您好，我是调解员，请说说情况。"})
    wait.until(lambda d: any("我是调解员" in e.text for e in d.find_elements("css selector", ".row.staff .bubble")))
    wait.until(lambda d: "已接入" in d.find_element("id", "mode").text)
    browser.save_screenshot(str(shots / "web_chat_staff_reply.png"))
    # after a reload the whole conversation is drawn again, the staff reply included, exactly once
    browser.refresh()
    wait.until(lambda d: any("我是调解员" in e.text for e in d.find_elements("css selector", ".row.staff .bubble")))
    assert any(e.text == "你好" for e in browser.find_elements("css selector", ".row.me .bubble"))
    time.sleep(4)  # one polling round: the reply must not be drawn twice
    assert sum("我是调解员" in e.text for e in browser.find_elements("css selector", ".row.staff .bubble")) == 1
    staff_api.post(f"/conversations/{conversation['id']}/close").raise_for_status()
    wait.until(
        lambda d: any("小助手继续为您服务" in e.text for e in d.find_elements("css selector", ".row.staff .bubble"))
    )
    wait.until(lambda d: not d.find_element("id", "mode").is_displayed())
