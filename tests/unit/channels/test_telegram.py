"""The Telegram channel: the real python-telegram-bot application against a local fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from telegram import Update

from bot.channels.telegram import (
    ALLOWED_UPDATES,
    BUTTON_KEYBOARDS,
    COMMANDS,
    SECRET_HEADER,
    ChatLocks,
    TelegramSender,
    build_application,
    file_base_url,
    local_phone,
    serve_webhook,
    split_text,
    webhook_app,
)
from bot.rasa_client import BotMessage, Button
from bot.services.outbound import DeliveryError
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.memory import InMemoryCaseStore
from bot.wording import EXPIRED_BUTTON, OTHERS_CONTACT, TELEGRAM_HELP, TELEGRAM_ONLY_TEXT, TRY_LATER
from tests.fakes import gateway as fakes
from tests.fakes.telegram_api import TOKEN, FakeTelegram

GREETING = BotMessage(
    "您好！我是县司法局的法律咨询小助手。",
    (
        Button("法律咨询", "/continue_asking"),
        Button("申请法律援助", "/apply_legal_aid"),
        Button("预约调解", "/book_mediation"),
        Button("转人工", "/request_human"),
    ),
)
ASK_PHONE = BotMessage("请留一个能联系到您的手机号码。")
# What PTB's callback-data cache sends in a payload's place: the keyboard's and the button's uuid4 hex.
KEY = re.compile(r"^[0-9a-f]{64}$")


class FakeGateway(fakes.FakeGateway):
    """The shared gateway twin, greeting with the bot's greeting buttons."""

    def __init__(self, replies: dict[str, list[BotMessage]] | None = None) -> None:
        super().__init__({"你好": [GREETING], **(replies or {})})


def settings_for(api: FakeTelegram, **overrides) -> Settings:
    return Settings(telegram_bot_token=TOKEN, telegram_base_url=api.base_url, **overrides)


@pytest.fixture
def api():
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@contextlib.asynccontextmanager
async def polling(application):
    """The application polling the fake, as `run_polling` would, without owning the event loop."""
    async with application:
        await application.start()
        await application.updater.start_polling(timeout=1, allowed_updates=ALLOWED_UPDATES)
        yield application
        await application.updater.stop()
        await application.stop()


@contextlib.asynccontextmanager
async def webhook_client(api, gateway):
    """Our webhook server (secret "s3cret", path /hook) in front of a started application, and a
    client posting to it."""
    application = build_application(settings_for(api, telegram_webhook_url="https://bot.example.org/hook"), gateway)
    async with application:
        await application.start()
        try:
            transport = httpx.ASGITransport(app=webhook_app(application, "s3cret", "/hook"))
            async with httpx.AsyncClient(transport=transport, base_url="http://tg", timeout=10) as client:
                yield client
        finally:
            await asyncio.wait_for(application.stop(), 10)


@pytest.fixture
async def bot(api, gateway):
    async with polling(build_application(settings_for(api), gateway)) as application:
        yield application


def texts(messages: list[dict]) -> list[str]:
    return [m["text"] for m in messages]


# ---- commands and buttons ------------------------------------------------------------------
async def test_start_shows_the_greeting_with_inline_buttons(api, gateway, bot):
    api.push(api.command(100, "start"))
    [message] = await api.wait_messages(1)

    assert gateway.seen == [("tg:100", "你好")]
    assert message["chat_id"] == 100 and message["text"] == GREETING.text
    rows = message["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [["法律咨询"], ["申请法律援助"], ["预约调解"], ["转人工"]]
    keys = [row[0]["callback_data"] for row in rows]  # PTB's keys in the payloads' place, within 64 bytes
    assert all(KEY.match(k) and len(k.encode("utf-8")) <= 64 for k in keys) and len(set(keys)) == 4
    assert bot.bot.callback_data_cache.maxsize == BUTTON_KEYBOARDS


async def test_pressing_a_button_sends_its_payload(api, gateway, bot):
    api.push(api.command(100, "start"))
    [greeting] = await api.wait_messages(1)
    key = greeting["reply_markup"]["inline_keyboard"][1][0]["callback_data"]

    press = api.push(api.callback(100, key, GREETING.text, greeting["reply_markup"]))
    await api.wait_messages(2)

    assert gateway.seen[-1] == ("tg:100", "/apply_legal_aid")
    assert api.calls("answerCallbackQuery")[0].params == {"callback_query_id": press["callback_query"]["id"]}
    assert api.messages()[-1] == {"chat_id": 100, "text": "收到：/apply_legal_aid"}

    api.push(api.callback(100, key, GREETING.text, greeting["reply_markup"]))  # pressed again: still good
    await api.wait_messages(3)
    assert gateway.seen[-2:] == [("tg:100", "/apply_legal_aid")] * 2


async def test_an_unknown_button_key_asks_the_citizen_to_type(api, gateway, bot):
    api.push(api.callback(100, "b:0123456789"))  # a key of the old format
    api.push(api.callback(100, "0" * 64))  # one of PTB's shape that this worker never issued (a restart)
    assert await api.wait_messages(2) == [{"chat_id": 100, "text": EXPIRED_BUTTON}] * 2
    assert gateway.seen == [] and len(api.calls("answerCallbackQuery")) == 2


async def test_the_oldest_keyboards_are_forgotten_and_their_buttons_expire(api, gateway, monkeypatch):
    monkeypatch.setattr("bot.channels.telegram.BUTTON_KEYBOARDS", 2)
    async with polling(build_application(settings_for(api), gateway)):
        for n in range(3):
            api.push(api.command(100, "start"))
            await api.wait_messages(n + 1)
        first, _, last = api.messages()
        api.push(api.callback(100, first["reply_markup"]["inline_keyboard"][0][0]["callback_data"]))
        assert (await api.wait_messages(4))[-1] == {"chat_id": 100, "text": EXPIRED_BUTTON}
        api.push(api.callback(100, last["reply_markup"]["inline_keyboard"][3][0]["callback_data"]))
        assert (await api.wait_messages(5))[-1] == {"chat_id": 100, "text": "收到：/request_human"}
    assert gateway.seen == [("tg:100", "你好")] * 3 + [("tg:100", "/request_human")]


async def test_help_and_the_command_shortcuts(api, gateway, bot):
    for update in (
        api.command(100, "help"),
        api.command(100, "human"),
        api.command(100, "cancel"),
        api.command(100, "status"),
        api.command(100, "status", "LA-20261126-0001"),
        api.command(100, "whatever"),
    ):
        api.push(update)
    messages = await api.wait_messages(6)

    assert texts(messages) == [
        TELEGRAM_HELP,
        "收到：转人工",
        "收到：取消",
        "收到：查询进度",
        "收到：查询进度 LA-20261126-0001",
        TELEGRAM_HELP,
    ]
    assert gateway.seen == [("tg:100", t) for t in ("转人工", "取消", "查询进度", "查询进度 LA-20261126-0001")]


async def test_typing_indicator_comes_before_the_reply(api, gateway, bot):
    api.push(api.text(100, "老板拖欠工资怎么办"))
    await api.wait_messages(1)
    assert [(c.method, c.params) for c in api.calls() if c.method in ("sendChatAction", "sendMessage")] == [
        ("sendChatAction", {"chat_id": 100, "action": "typing"}),
        ("sendMessage", {"chat_id": 100, "text": "收到：老板拖欠工资怎么办"}),
    ]
    assert gateway.seen == [("tg:100", "老板拖欠工资怎么办")]


async def test_long_replies_are_split_at_a_newline(api, gateway, bot):
    long = "甲" * 3000 + "\n" + "乙" * 3000 + "\n" + "丙" * 100
    gateway.replies["长"] = [BotMessage(long, (Button("转人工", "/request_human"),))]
    api.push(api.text(100, "长"))
    first, second = await api.wait_messages(2)

    assert first == {"chat_id": 100, "text": "甲" * 3000}
    assert second["text"] == "乙" * 3000 + "\n" + "丙" * 100
    assert [b["text"] for [b] in second["reply_markup"]["inline_keyboard"]] == ["转人工"]


def test_split_text_counts_utf16_units_and_cuts_hard_without_newlines():
    assert split_text("字" * 5000) == ["字" * 4096, "字" * 904]
    assert split_text("😀" * 3000) == ["😀" * 2048, "😀" * 952]  # an emoji is two UTF-16 units
    assert split_text("短") == ["短"] and split_text("a\nb", limit=2) == ["a", "b"]


# ---- what the bot cannot read, and phone numbers --------------------------------------------
async def test_photos_voice_stickers_and_locations_get_a_polite_answer(api, gateway, bot):
    for update in (api.photo(100), api.voice(100), api.sticker(100), api.location(100)):
        api.push(update)
    assert await api.wait_messages(4) == [{"chat_id": 100, "text": TELEGRAM_ONLY_TEXT}] * 4
    assert gateway.seen == []


async def test_a_question_for_the_phone_offers_the_contact_button_then_takes_it_away(api, gateway, bot):
    gateway.replies["申请法律援助"] = [ASK_PHONE]
    gateway.replies["13812345678"] = [BotMessage("好的，已记下。请问您在哪个乡镇？")]
    api.push(api.text(100, "申请法律援助"))
    [ask] = await api.wait_messages(1)
    assert ask["reply_markup"] == {
        "keyboard": [[{"text": "分享我的手机号", "request_contact": True}]],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }

    api.push(api.contact(100, "8613812345678", user_id=100))  # the citizen's own number: consent
    messages = await api.wait_messages(2)

    assert gateway.seen[-1] == ("tg:100", "13812345678")
    assert messages[-1] == {
        "chat_id": 100,
        "text": "好的，已记下。请问您在哪个乡镇？",
        "reply_markup": {"remove_keyboard": True},
    }


async def test_mentioning_a_hotline_is_not_asking_for_a_phone(api, gateway, bot):
    gateway.replies["热线"] = [BotMessage("着急的话请拨打12348法律服务热线电话。")]
    api.push(api.text(100, "热线"))
    assert await api.wait_messages(1) == [{"chat_id": 100, "text": "着急的话请拨打12348法律服务热线电话。"}]


async def test_someone_elses_contact_is_refused(api, gateway, bot):
    api.push(api.contact(100, "+8613900001111", user_id=200, first_name="李四"))
    api.push(api.contact(100, "13900001111", user_id=None, first_name="王五"))  # a phone-book entry
    assert await api.wait_messages(2) == [{"chat_id": 100, "text": OTHERS_CONTACT}] * 2
    assert gateway.seen == []


def test_local_phone_drops_the_country_code():
    assert local_phone("8613812345678") == local_phone("+86 138 1234 5678") == "13812345678"
    assert local_phone("+14155550100") == "+14155550100"


# ---- failures, privacy, ordering ----------------------------------------------------------
async def test_rasa_unavailable_becomes_try_later_and_nothing_personal_is_logged(api, gateway, bot, caplog):
    caplog.set_level(logging.DEBUG, logger="bot")
    gateway.fail.add("我叫张三，电话13812345678")
    api.push(api.text(100, "我叫张三，电话13812345678"))
    assert await api.wait_messages(1) == [{"chat_id": 100, "text": TRY_LATER}]

    def ours() -> str:
        return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot"))

    await api.wait_for(lambda: "telegram_error" in ours(), what="the error log")
    assert "error=RasaUnavailable" in ours()
    assert "张三" not in ours() and "13812345678" not in ours() and "tg:100" not in ours()


async def test_one_chat_in_order_while_other_chats_go_on(api, gateway, bot):
    gateway.hold["A1"] = release = asyncio.Event()
    api.push(api.text(1, "A1"))
    api.push(api.text(1, "A2"))
    api.push(api.text(2, "B1"))

    assert await api.wait_messages(1, chat_id=2) == [{"chat_id": 2, "text": "收到：B1"}]
    assert ("tg:1", "A2") not in gateway.seen  # A2 waits for A1, B1 did not
    release.set()

    assert texts(await api.wait_messages(2, chat_id=1)) == ["收到：A1", "收到：A2"]
    assert [t for s, t in gateway.seen if s == "tg:1"] == ["A1", "A2"]


async def test_an_update_redelivered_after_a_restart_is_answered_once(api, gateway):
    deliveries = InMemoryCaseStore()
    for _ in range(2):  # the worker that handled it, then a new worker getting it again
        application = build_application(settings_for(api), gateway, deliveries=deliveries)
        async with application:
            await application.process_update(
                Update.de_json({"update_id": 77, **api.text(5, "欠薪怎么办")}, application.bot)
            )
    assert gateway.seen == [("tg:5", "欠薪怎么办")]
    assert texts(await api.wait_messages(1)) == ["收到：欠薪怎么办"]


def test_bounded_chat_locks():
    async def use_many() -> int:
        locks = ChatLocks(limit=3)
        async with locks.hold(1):  # held: survives the trimming
            for chat in range(2, 10):
                async with locks.hold(chat):
                    pass
            assert 1 in locks
        return len(locks)

    assert asyncio.run(use_many()) <= 3


def test_file_base_url():
    assert file_base_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_base_url("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"


# ---- webhook mode --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_webhook_refuses_a_wrong_secret_and_handles_the_right_one(api, gateway):
    settings = settings_for(
        api,
        telegram_webhook_url="https://bot.example.org/tg/hook",
        telegram_webhook_secret="s3cret_Token-1",
        telegram_webhook_port=free_port(),
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_webhook(build_application(settings, gateway), settings, stop))
    url = f"http://127.0.0.1:{settings.telegram_webhook_port}/tg/hook"
    update = api.text(100, "你好")
    update["update_id"] = 1
    try:
        async with httpx.AsyncClient(timeout=5) as client:

            async def status(headers: dict) -> int | None:
                with contextlib.suppress(httpx.TransportError):
                    return (await client.post(url, json=update, headers=headers)).status_code
                return None

            assert await api.wait_for(lambda: api.calls("setWebhook"), what="setWebhook")
            wrong = None
            for _ in range(1000):  # the server may still be binding: wait for it, no fixed sleep
                wrong = await status({SECRET_HEADER: "guess"})
                if wrong is not None or serving.done():
                    break
                await asyncio.sleep(0.01)
            assert wrong == 403
            assert await status({}) == 403
            assert api.messages() == [] and gateway.seen == []

            assert await status({SECRET_HEADER: "s3cret_Token-1"}) == 200
            assert await api.wait_messages(1) == [
                {"chat_id": 100, "text": GREETING.text, "reply_markup": api.messages()[0]["reply_markup"]}
            ]
            assert gateway.seen == [("tg:100", "你好")]
    finally:
        stop.set()
        await asyncio.wait_for(serving, 10)

    [webhook] = api.calls("setWebhook")
    assert webhook.params == {
        "url": "https://bot.example.org/tg/hook",
        "secret_token": "s3cret_Token-1",
        "allowed_updates": ["message", "callback_query"],
    }
    assert api.calls("setMyCommands")[0].params["commands"] == [c.to_dict() for c in COMMANDS]


async def test_the_webhook_acknowledges_an_update_only_once_it_is_handled(api, gateway):
    # Telegram drops an update it was told arrived: acknowledged first, a worker dying mid-handling loses it.
    gateway.hold["欠薪怎么办"] = release = asyncio.Event()
    async with webhook_client(api, gateway) as client:
        try:
            update = {"update_id": 9, **api.text(7, "欠薪怎么办")}
            posting = asyncio.create_task(client.post("/hook", json=update, headers={SECRET_HEADER: "s3cret"}))
            await api.wait_for(lambda: ("tg:7", "欠薪怎么办") in gateway.seen, what="the update being handled")
            await asyncio.sleep(0.1)
            assert not posting.done()  # no acknowledgement while the citizen has no answer yet
            release.set()
            response = await asyncio.wait_for(posting, 10)
            assert response.status_code == 200
            assert api.messages() == [{"chat_id": 7, "text": "收到：欠薪怎么办"}]  # answered before the 200
        finally:
            release.set()


async def test_a_button_pressed_through_the_webhook_sends_its_payload(api, gateway):
    # Our webhook server, not PTB's, parses the update: it must put the cached payload back too.
    async with webhook_client(api, gateway) as client:

        async def post(update_id: int, update: dict) -> int:
            body = {"update_id": update_id, **update}
            return (await client.post("/hook", json=body, headers={SECRET_HEADER: "s3cret"})).status_code

        assert await post(1, api.command(7, "start")) == 200
        [greeting] = api.messages()
        key = greeting["reply_markup"]["inline_keyboard"][2][0]["callback_data"]
        assert await post(2, api.callback(7, key, GREETING.text, greeting["reply_markup"])) == 200
        assert await post(3, api.callback(7, "f" * 64)) == 200
    assert gateway.seen == [("tg:7", "你好"), ("tg:7", "/book_mediation")]
    assert texts(api.messages()[1:]) == ["收到：/book_mediation", EXPIRED_BUTTON]


# ---- outbound ------------------------------------------------------------------------------
async def test_telegram_sender_posts_plain_text_with_numbered_options(api):
    sender = TelegramSender(TOKEN, api.base_url)
    await sender.send(
        "tg:100",
        [
            BotMessage("您好，我是司法所的工作人员。"),
            BotMessage("需要我们上门吗？", (Button("需要", "/affirm"), Button("不需要", "/deny"))),
        ],
    )
    assert api.messages() == [
        {"chat_id": 100, "text": "您好，我是司法所的工作人员。"},
        {"chat_id": 100, "text": "需要我们上门吗？\n1. 需要\n2. 不需要"},
    ]


async def test_telegram_sender_raises_delivery_error(api):
    with pytest.raises(DeliveryError):
        await TelegramSender("999:wrong", api.base_url).send("tg:100", [BotMessage("在吗")])  # 401
    with pytest.raises(DeliveryError):
        await TelegramSender(TOKEN, api.base_url).send("web:abc", [BotMessage("在吗")])
    with pytest.raises(DeliveryError) as refused:
        await TelegramSender(TOKEN, f"http://127.0.0.1:{free_port()}/bot").send("tg:100", [BotMessage("在吗")])
    assert TOKEN not in str(refused.value) and refused.value.__cause__ is None


# ---- the command ---------------------------------------------------------------------------
def test_cli_without_a_token_says_so_and_exits_0():
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", "telegram"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "TELEGRAM_BOT_TOKEN" in done.stdout and "未配置" in done.stdout and "not configured" in done.stdout


def test_cli_worker_polls_registers_commands_and_stops_on_sigint(api, tmp_path):
    """The real `legal-triage telegram` (real wiring) against the fake; /help needs no Rasa."""
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": api.base_url,
        "LEGAL_TRIAGE_DATA_DIR": str(tmp_path),
        "LEGAL_TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'lt.db'}",
    }
    env.pop("TELEGRAM_WEBHOOK_URL", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.entrypoints.cli", "telegram"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        api.push(api.command(100, "help"))
        asyncio.run(api.wait_messages(1, timeout=30))
        assert api.messages() == [{"chat_id": 100, "text": TELEGRAM_HELP}]
        assert api.calls("setMyCommands")[0].params["commands"] == [c.to_dict() for c in COMMANDS]
        assert [c.method for c in api.calls()][:2] == ["getMe", "setMyCommands"]
    finally:
        worker.send_signal(signal.SIGINT)
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert "123456:TEST-token" not in stderr  # no URL with the token in the log
