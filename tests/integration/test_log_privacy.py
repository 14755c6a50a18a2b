"""PIPL: personal data fed through every channel - web chat, WeChat, Telegram, a legal-aid form, the
staff API - appears in no process's log (Rasa, action server, web apps, Telegram worker)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.conftest import wait_until
from tests.support.stack import STAFF_TOKENS
from tests.unit.channels.test_wechat import OPENID, signed_query, text_xml

pytestmark = pytest.mark.integration
NAME, PHONE, ID_NUMBER = "欧阳娜娜", "13987654321", "430321199001011234"
STORY = "隔壁老王家的猪拱了我家菜地"
PERSONAL = {"name": NAME, "phone": PHONE, "id number": ID_NUMBER, "message text": STORY}
MESSAGE = f"我叫{NAME}，身份证{ID_NUMBER}，电话{PHONE}，{STORY}怎么办"


def test_personal_data_reaches_no_log(stack, web_url, channels):
    channel_url, wechat, telegram = channels
    for url in (web_url, channel_url):
        browser = httpx.Client(timeout=60)  # one citizen: the web app's sender cookie
        for text in (MESSAGE, "我要申请法律援助", "1", "同意", f"我叫{NAME}", PHONE, "转人工", MESSAGE):
            response = browser.post(f"{url}/api/chat", json={"message": text})
            assert response.status_code == 200
        sender = response.json()["sender"]
    httpx.post(
        f"{channel_url}/wechat", params=signed_query(), content=text_xml(MESSAGE).encode(), timeout=60
    ).raise_for_status()
    before = len(telegram.messages(4242))
    telegram.push(telegram.text(4242, MESSAGE))
    wait_until(lambda: len(telegram.messages(4242)) > before, 60, "the Telegram reply")
    # a staff member answers one of them with personal data of their own
    staff = httpx.Client(
        base_url=f"{channel_url}/api/staff",
        timeout=60,
        headers={"Authorization": f"Bearer {next(iter(STAFF_TOKENS.values()))}"},
    )
    mine = wait_until(
        lambda: [c for c in staff.get("/conversations").json()["conversations"] if c["sender_id"] == sender],
        30,
        "the citizen's conversation in the queue",
    )
    staff.post(f"/conversations/{mine[0]['id']}/claim").raise_for_status()
    staff.post(
        f"/conversations/{mine[0]['id']}/reply", json={"text": f"{NAME}您好，核对一下身份证{ID_NUMBER}"}
    ).raise_for_status()
    time.sleep(2)  # let every process write what it would

    logs = {path.name: path.read_text(encoding="utf-8", errors="replace") for path in stack.tmp.glob("*.log")}
    assert {"rasa.log", "actions.log", "web.log", "web_channels.log", "telegram.log"} <= set(logs)
    # the processes did log what happened (so an empty log cannot pass for a clean one)
    for name, event in (
        ("actions.log", "answer sender=web:"),
        ("actions.log", "escalate sender="),
        ("web_channels.log", "wechat_in sender=wx:"),
        ("web_channels.log", "staff_reply"),
        ("telegram.log", "telegram_message sender=tg:"),
    ):
        assert event in logs[name], (name, event)
    for name, text in logs.items():
        for what, value in PERSONAL.items():
            assert value not in text, f"{what} found in {name}"
    assert OPENID not in "".join(logs.values())  # WeChat's user id is personal too: logged hashed
