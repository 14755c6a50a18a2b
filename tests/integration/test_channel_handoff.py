"""The handoff loop on the messaging channels, through the real web app, Rasa and action server:
citizen asks for a person → staff list and claim it → the staff reply arrives on that channel →
staff close → the bot answers again. The platforms are local fakes over real HTTP."""

from __future__ import annotations

import httpx
import pytest
import xmltodict

from bot.wording import CLAIMED_NOTICE, CLOSED_NOTICE
from tests.integration.conftest import wait_until
from tests.unit.channels.test_wechat import OPENID, signed_query, text_xml

pytestmark = pytest.mark.integration


def staff_client(url: str) -> httpx.Client:
    from tests.support.stack import STAFF_TOKENS

    token = next(iter(STAFF_TOKENS.values()))
    return httpx.Client(base_url=f"{url}/api/staff", headers={"Authorization": f"Bearer {token}"}, timeout=60)


def staff_take(staff_api, sender_id: str) -> int:
    waiting = wait_until(
        lambda: [c for c in staff_api.get("/conversations").json()["conversations"] if c["sender_id"] == sender_id]
    )
    number = waiting[0]["id"]
    staff_api.post(f"/conversations/{number}/claim").raise_for_status()
    return number


def test_wechat_loop(channels):
    url, wechat, _ = channels
    staff_api = staff_client(url)

    def say(text: str) -> str:
        """The bot's answer: the passive reply, or (when slow) what came by the customer-service API."""
        before = len(wechat.texts(OPENID))
        response = httpx.post(f"{url}/wechat", params=signed_query(), content=text_xml(text).encode(), timeout=60)
        response.raise_for_status()
        if response.text != "success":
            return xmltodict.parse(response.text)["xml"]["Content"]
        return "\n".join(wait_until(lambda: wechat.texts(OPENID)[before:]))

    assert "人工" in say("转人工")
    assert "工作人员" in say("在吗，我家田被占了")
    number = staff_take(staff_api, f"wx:{OPENID}")
    staff_api.post(f"/conversations/{number}/reply", json={"text": "您好，我是司法所的，请讲。"}).raise_for_status()
    wait_until(lambda: "您好，我是司法所的，请讲。" in wechat.texts(OPENID))
    assert CLAIMED_NOTICE in wechat.texts(OPENID)
    staff_api.post(f"/conversations/{number}/close").raise_for_status()
    wait_until(lambda: CLOSED_NOTICE in wechat.texts(OPENID))
    assert say("你好") and "小助手" in say("你好")  # the bot answers again


def test_telegram_loop(channels):
    url, _, telegram = channels
    staff_api = staff_client(url)
    chat = 4242

    def texts() -> list[str]:
        return [m["text"] for m in telegram.messages(chat)]

    def say(text: str) -> list[str]:
        before = len(texts())
        telegram.push(telegram.text(chat, text))
        return wait_until(lambda: texts()[before:])

    assert any("人工" in t for t in say("转人工"))
    assert any("工作人员" in t for t in say("我家田被人占了"))
    number = staff_take(staff_api, f"tg:{chat}")
    staff_api.post(f"/conversations/{number}/reply", json={"text": "您好，我是法援中心的，请讲。"}).raise_for_status()
    wait_until(lambda: "您好，我是法援中心的，请讲。" in texts())
    staff_api.post(f"/conversations/{number}/close").raise_for_status()
    wait_until(lambda: CLOSED_NOTICE in texts())
    assert any("小助手" in t for t in say("你好"))  # the bot answers again
