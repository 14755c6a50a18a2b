"""The handoff use case and the gateway, with the in-memory store and recording senders."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.domain import Escalation
from bot.rasa_client import BotMessage
from bot.services.gateway import Gateway, RateLimit
from bot.services.handoff import BlankTextError, ConflictError, Handoff, HandoffPolicy, OfficeHours
from bot.services.outbound import DeliveryError, Outbound, RecordingSender
from bot.storage.memory import InMemoryCaseStore
from bot.wording import CLOSED_NOTICE, TOO_FAST, TRY_LATER
from tests.fakes.rasa import FakeRasa

MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0)
SATURDAY_10 = dt.datetime(2026, 11, 28, 10, 0)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def world():
    clock = Clock(MONDAY_10)
    store = InMemoryCaseStore(clock=clock)
    sender = RecordingSender()
    rasa = FakeRasa([BotMessage("机器人的回答")])
    hours = OfficeHours((0, 1, 2, 3, 4), dt.time(8, 30), dt.time(17, 30))
    handoff = Handoff(store, Outbound({"tg": sender}), rasa, HandoffPolicy(hours, pickup_seconds=300), clock)
    return handoff, Gateway(rasa, handoff), sender, rasa, clock


def escalate(handoff, sender_id="tg:7", priority=1) -> Escalation:
    return handoff.store.add_escalation(Escalation(sender_id=sender_id, reason="request", priority=priority))


def test_office_hours():
    hours = OfficeHours.from_config({"weekdays": [0, 1, 2, 3, 4], "start": "08:30", "end": "17:30"})
    assert hours.describe() == "周一至周五 08:30-17:30"
    assert hours.is_open(MONDAY_10) and not hours.is_open(SATURDAY_10)
    assert hours.next_opening(SATURDAY_10) == dt.datetime(2026, 11, 30, 8, 30)
    unknown = OfficeHours.from_config({"start": "待填写", "end": "待填写"})
    assert not unknown.known and unknown.is_open(MONDAY_10) is None
    policy = HandoffPolicy(hours)
    assert "11月30日 08:30" in policy.expectation(SATURDAY_10) and "现在是工作时间" in policy.expectation(MONDAY_10)


async def test_without_a_handoff_messages_go_to_rasa(world):
    _, gateway, _, rasa, _ = world
    assert [m.text for m in await gateway.handle("tg:7", "欠薪怎么办")] == ["机器人的回答"]
    assert [m.text for m in await gateway.handle("tg:7", "   ")] == ["请输入您想咨询的问题。"]
    assert "太长" in (await gateway.handle("tg:7", "长" * 5000))[0].text
    assert rasa.seen == [("tg:7", "欠薪怎么办")]


async def test_a_bot_that_answers_nothing_becomes_try_later(world):
    _, gateway, _, rasa, _ = world
    rasa.replies = []  # as Rasa when an action could not run
    assert [m.text for m in await gateway.handle("tg:7", "欠薪怎么办")] == [TRY_LATER]


async def test_while_waiting_the_citizen_is_told_once_and_everything_is_kept(world):
    handoff, gateway, _, rasa, _ = world
    escalation = escalate(handoff)
    first = await gateway.handle("tg:7", "有人吗")
    assert len(first) == 1 and "工作人员" in first[0].text and "12348" in first[0].text
    assert await gateway.handle("tg:7", "我等着") == []
    assert rasa.seen == []  # the paused bot is not asked (it would act on the message after resuming)
    assert [(m.author, m.text) for m in handoff.transcript(escalation.id)] == [
        ("citizen", "有人吗"),
        ("system", first[0].text),
        ("citizen", "我等着"),
    ]
    rasa.down = True
    assert await gateway.handle("tg:7", "还在吗") == []  # Rasa being down does not matter here
    assert handoff.transcript(escalation.id)[-1].text == "还在吗"


async def test_claim_reply_close_reach_the_citizen_channel(world):
    handoff, gateway, sender, rasa, _ = world
    escalation = escalate(handoff)
    await handoff.claim(escalation.id, "王调解员")
    with pytest.raises(ConflictError):
        await handoff.claim(escalation.id, "李律师")
    with pytest.raises(ConflictError):
        await handoff.reply(escalation.id, "李律师", "我来")
    await handoff.reply(escalation.id, "王调解员", "您好，请讲")
    await handoff.close(escalation.id, "王调解员")
    assert [m.text for _, m in sender.sent][1:] == ["您好，请讲", CLOSED_NOTICE]
    assert rasa.resumed == ["tg:7"] and handoff.open_for("tg:7") is None
    assert [m.text for m in await gateway.handle("tg:7", "再问一个")] == ["机器人的回答"]


async def test_blank_replies_and_notes_are_refused(world):
    handoff, _, sender, _, _ = world
    escalation = escalate(handoff)
    await handoff.claim(escalation.id, "王调解员")
    sent = len(sender.sent)
    with pytest.raises(BlankTextError):
        await handoff.reply(escalation.id, "王调解员", " \n\u3000")
    with pytest.raises(BlankTextError):
        handoff.note(escalation.id, "王调解员", "")
    assert len(sender.sent) == sent and all(m.text.strip() for m in handoff.transcript(escalation.id))


async def test_overdue_requests_are_told_once_when_to_expect_an_answer(world):
    handoff, _, sender, _, clock = world
    escalate(handoff)
    assert await handoff.remind_overdue() == 0
    clock.now = MONDAY_10 + dt.timedelta(minutes=6)
    assert await handoff.remind_overdue() == 1 and await handoff.remind_overdue() == 0
    assert "还没有工作人员接待" in sender.sent[-1][1].text and "12348" in sender.sent[-1][1].text


async def test_a_channel_that_cannot_deliver_keeps_the_transcript(world):
    handoff, _, _, _, _ = world
    escalation = escalate(handoff, sender_id="wx:abc")  # no WeChat sender registered here
    await handoff.claim(escalation.id, "王调解员")
    await handoff.reply(escalation.id, "王调解员", "您好")
    assert handoff.transcript(escalation.id)[-1].text == "您好"
    with pytest.raises(DeliveryError):
        await handoff.outbound.send("wx:abc", [BotMessage("x")])


async def test_an_emergency_while_waiting_gets_the_hotlines_and_jumps_the_queue(world):
    handoff, gateway, _, _, _ = world
    calm = escalate(handoff, sender_id="tg:1")
    escalation = escalate(handoff)
    replies = await gateway.handle("tg:7", "他拿刀要砍我")
    assert "110" in replies[0].text and "120" in replies[0].text
    assert [e.id for e in handoff.store.escalations("waiting")] == [escalation.id, calm.id]


async def test_a_flood_from_one_sender_is_slowed_down_without_affecting_others():
    clock = Clock(MONDAY_10)
    limit = RateLimit(burst=3, every=2.0, clock=lambda: clock.now.timestamp())
    gateway = Gateway(FakeRasa([BotMessage("机器人的回答")]), None, limit)
    answers = [(await gateway.handle("web:flood", "欠薪"))[0].text for _ in range(5)]
    assert answers[:3] == ["机器人的回答"] * 3 and answers[3:] == [TOO_FAST] * 2
    assert (await gateway.handle("web:calm", "欠薪"))[0].text == "机器人的回答"
    clock.now += dt.timedelta(seconds=2)
    assert (await gateway.handle("web:flood", "欠薪"))[0].text == "机器人的回答"
