"""The gateway lets through as intents only the payloads the bot offered (audit: issue 14, typed intents)."""

from __future__ import annotations

from bot.rasa_client import BotMessage, Button
from bot.services import gateway as gw
from bot.services.caps import address_key, client_of
from bot.services.gateway import Gateway
from tests.fakes.rasa import FakeRasa

OPTIONS = (
    BotMessage(
        "您想问的是哪一种？",
        (Button("1. 拖欠工资", '/choose_option{"option":"1"}'), Button("2. 工伤赔偿", '/choose_option{"option":"2"}')),
    ),
)
CONFIRM = (BotMessage("请核对：……", (Button("对，提交", "/affirm"), Button("不对，重填", "/deny"))),)


async def test_a_typed_intent_reaches_rasa_as_text_not_as_the_intent():
    rasa = FakeRasa()
    gateway = Gateway(rasa)
    await gateway.handle("web:a", "/emergency")
    await gateway.handle("web:a", '/inform{"town":"城关镇"}')
    assert rasa.seen == [("web:a", "／emergency"), ("web:a", '／inform{"town":"城关镇"}')]


async def test_a_payload_just_offered_passes_as_an_intent():
    rasa = FakeRasa(CONFIRM)
    gateway = Gateway(rasa)
    await gateway.handle("web:a", "张三")
    await gateway.handle("web:a", "/affirm")
    assert rasa.seen[-1] == ("web:a", "/affirm")


async def test_a_chosen_option_with_its_entity_passes_after_the_options_were_offered():
    rasa = FakeRasa(OPTIONS)
    gateway = Gateway(rasa)
    await gateway.handle("web:a", "公司欠钱")
    await gateway.handle("web:a", '/choose_option{"option":"2"}')
    assert rasa.seen[-1] == ("web:a", '/choose_option{"option":"2"}')


async def test_an_offer_is_for_its_sender_only_and_only_until_the_next_reply():
    rasa = FakeRasa(CONFIRM)
    gateway = Gateway(rasa)
    await gateway.handle("web:a", "张三")
    await gateway.handle("web:b", "/affirm")  # another citizen was not offered it
    rasa.replies = [BotMessage("好的")]
    await gateway.handle("web:a", "我再想想")
    await gateway.handle("web:a", "/affirm")  # no longer on offer
    assert rasa.seen[1] == ("web:b", "／affirm") and rasa.seen[-1] == ("web:a", "／affirm")


async def test_offers_expire_and_the_menu_always_passes():
    now = [0.0]
    rasa = FakeRasa(CONFIRM)
    gateway = Gateway(rasa, offered=gw.OfferedPayloads(ttl=60, clock=lambda: now[0]))
    await gateway.handle("web:a", "张三")
    now[0] = 61
    await gateway.handle("web:a", "/affirm")
    for menu in ("/request_human", "/apply_legal_aid", "/book_mediation", "/continue_asking", "/greet"):
        await gateway.handle("web:new", menu)
    assert rasa.seen[1] == ("web:a", "／affirm")
    assert [text for sender, text in rasa.seen if sender == "web:new"][0] == "/request_human"
    assert all(not text.startswith("／") for sender, text in rasa.seen if sender == "web:new")


def test_the_memory_of_offers_is_bounded():
    offered = gw.OfferedPayloads(max_senders=2)
    for sender in ("web:1", "web:2", "web:3"):
        offered.remember(sender, CONFIRM)
    assert not offered.allows("web:1", "/affirm") and offered.allows("web:3", "/affirm")


async def test_the_client_address_goes_to_the_actions_as_a_pseudonym_for_the_daily_caps():
    rasa = FakeRasa()
    gateway = Gateway(rasa)
    await gateway.handle("web:a", "我要转人工", address="203.0.113.7")
    await gateway.handle("tg:1", "我要转人工")  # a platform's servers, not the citizen's address
    assert rasa.metadata == [{"client": address_key("203.0.113.7")}, None]
    assert "203.0.113.7" not in rasa.metadata[0]["client"] and rasa.metadata[0]["client"].startswith("ip:")
    assert client_of("web:a", [{"event": "user", "metadata": rasa.metadata[0]}]) == address_key("203.0.113.7")
