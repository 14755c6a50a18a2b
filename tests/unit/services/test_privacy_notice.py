"""The privacy notice (PIPL art. 17): told with the first reply a citizen gets, on every channel."""

from __future__ import annotations

from bot.rasa_client import BotMessage
from bot.services.gateway import Gateway
from bot.settings import Settings
from bot.wording import TRY_LATER, privacy_notice
from tests.fakes.rasa import FakeRasa
from tests.unit.web.test_app import client

NOTICE = privacy_notice(Settings())


def test_the_notice_says_what_why_how_long_how_to_erase_and_whom_to_ask():
    for said in ("姓名、电话", "办理法律援助申请和调解预约", "180天", "365天", "删除", "转人工", "12348"):
        assert said in NOTICE, said
    assert "730天" in privacy_notice(Settings(retain_case_days=730))  # the periods are the settings'


async def test_each_sender_is_told_once_with_the_first_reply():
    gateway = Gateway(FakeRasa(replies=[BotMessage("您好")]), notice=NOTICE)
    assert [m.text for m in await gateway.handle("tg:1", "你好")] == ["您好", NOTICE]
    assert [m.text for m in await gateway.handle("tg:1", "欠薪")] == ["您好"]
    assert [m.text for m in await gateway.handle("wx:2", "你好")] == ["您好", NOTICE]


async def test_a_reply_that_is_not_the_bots_answer_waits_for_the_notice():
    rasa = FakeRasa(replies=[])
    gateway = Gateway(rasa, notice=NOTICE)
    assert [m.text for m in await gateway.handle("tg:1", "你好")] == [TRY_LATER]
    rasa.replies = [BotMessage("您好")]
    assert [m.text for m in await gateway.handle("tg:1", "你好")] == ["您好", NOTICE]


def test_the_web_chat_tells_it_with_the_first_answer():
    c = client(FakeRasa())
    first = c.post("/api/chat", json={"message": "你好"}).json()
    second = c.post("/api/chat", json={"sender": first["sender"], "message": "欠薪"}).json()
    assert first["messages"][-1]["text"] == NOTICE and NOTICE not in [m["text"] for m in second["messages"]]
