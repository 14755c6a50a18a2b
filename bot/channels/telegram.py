"""The Telegram channel: updates in, the gateway's replies out, and staff messages outbound.

A citizen's chat is ``tg:<chat_id>``. Every text goes through ``Gateway.handle``; this module only
translates (commands to the texts Rasa understands, Rasa buttons to inline keyboards, long texts
to several messages) and holds no business rule. Updates of one chat are handled in order, many
chats at once (``concurrent_updates`` plus a lock per chat).

Webhook mode is served by our own small Starlette app on uvicorn (both already dependencies)
rather than PTB's ``run_webhook``: that needs tornado (``python-telegram-bot[webhooks]``), which
the project does not install. It checks Telegram's secret-token header the same way PTB does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import re
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatAction, MessageLimit
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.deliveries import DeliveryLog, already_delivered, mark_delivered
from bot.channels.rendering import numbered_lines, utf16_units
from bot.channels.rendering import split_text as split_long
from bot.privacy import log_event
from bot.rasa_client import BotMessage, Button
from bot.services.gateway import Gateway
from bot.services.outbound import DeliveryError
from bot.settings import Settings
from bot.wording import (
    EXPIRED_BUTTON,
    OTHERS_CONTACT,
    SHARE_PHONE,
    TELEGRAM_CHOOSE,
    TELEGRAM_HELP,
    TELEGRAM_ONLY_TEXT,
    TRY_LATER,
)

logger = logging.getLogger("bot.channels.telegram")

# For the operator starting the channel (what citizens read is in bot/wording.py).
NOT_CONFIGURED = (
    "Telegram 渠道未配置：请设置环境变量 TELEGRAM_BOT_TOKEN。\n"
    "The Telegram channel is not configured: set TELEGRAM_BOT_TOKEN."
)
NEEDS_SECRET = (
    "Webhook 模式需要 TELEGRAM_WEBHOOK_SECRET（A-Z a-z 0-9 _ -，1-256 个字符）。\n"
    "Webhook mode needs TELEGRAM_WEBHOOK_SECRET (A-Z a-z 0-9 _ -, 1-256 characters)."
)
COMMANDS = [
    BotCommand("start", "开始咨询"),
    BotCommand("help", "使用说明"),
    BotCommand("human", "转人工"),
    BotCommand("cancel", "取消正在办理的事项"),
    BotCommand("status", "查询办理进度"),
]
# What each command means to the bot (the texts the NLU model is trained on).
START_TEXT, HUMAN_TEXT, CANCEL_TEXT, STATUS_TEXT = "你好", "转人工", "取消", "查询进度"

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH  # 4096, counted in UTF-16 code units
# Inline keyboards whose payloads PTB's callback-data cache keeps in memory (Telegram carries at most
# 64 bytes of callback data, so a button carries PTB's key); the oldest go first. A press on one gone
# (evicted, or shown before a restart) arrives as InvalidCallbackData and the citizen is asked to type.
BUTTON_KEYBOARDS = 10_000
# Only a reply that *asks* for a number offers the contact button; answers that merely mention a
# hotline ("请拨打12348热线电话") or read a masked number back must not.
_ASKS_FOR_PHONE = re.compile(r"请(?:留|输入|提供|告诉|填写|发)[^。！？\n]{0,12}(?:手机|电话)")


class ReplySource(Protocol):
    """What the channel needs from ``bot.services.gateway.Gateway``."""

    async def handle(self, sender_id: str, text: str) -> list[BotMessage]: ...


def sender_id(chat_id: int) -> str:
    return f"tg:{chat_id}"


def file_base_url(base_url: str) -> str:
    """``https://api.telegram.org/bot`` -> ``https://api.telegram.org/file/bot`` (same for a local server)."""
    head, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


# ---- small bounded state -------------------------------------------------------------------
@dataclass
class _ChatLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting


class ChatLocks:
    """One lock per chat, so that a chat's updates are handled in arrival order.

    Bounded: the oldest idle locks are dropped; a lock somebody holds or waits for never is.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._entries: OrderedDict[int, _ChatLock] = OrderedDict()

    @contextlib.asynccontextmanager
    async def hold(self, chat_id: int) -> AsyncIterator[None]:
        entry = self._entries.setdefault(chat_id, _ChatLock())
        self._entries.move_to_end(chat_id)
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            self._trim()

    def _trim(self) -> None:
        if len(self._entries) <= self._limit:
            return
        for chat_id in [c for c, entry in self._entries.items() if entry.users == 0]:
            del self._entries[chat_id]
            if len(self._entries) <= self._limit:
                break

    def __contains__(self, chat_id: int) -> bool:
        return chat_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class ChannelState:
    """What the handlers share; kept in ``application.bot_data["channel"]``."""

    gateway: ReplySource
    locks: ChatLocks = field(default_factory=ChatLocks)
    # Chats showing the "share my phone number" keyboard, to take it away once answered.
    contact_keyboards: OrderedDict[int, None] = field(default_factory=OrderedDict)
    # Update ids already handled (the case store): a redelivery after a crash is answered once.
    deliveries: DeliveryLog | None = None


def _state(context: ContextTypes.DEFAULT_TYPE) -> ChannelState:
    return context.application.bot_data["channel"]


# ---- rendering -----------------------------------------------------------------------------
def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most ``limit`` UTF-16 units (Telegram's measure), cut at line ends where one fits."""
    return split_long(text, limit, utf16_units) or [text[:limit]]


def asks_for_phone(text: str) -> bool:
    return bool(_ASKS_FOR_PHONE.search(text))


def inline_keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup:
    """One button a row (titles are Chinese phrases of varying length). The callback data is the Rasa
    payload itself: the application's callback-data cache sends Telegram a short key in its place."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.title or b.payload, callback_data=b.payload)] for b in buttons]
    )


def contact_keyboard() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(SHARE_PHONE, request_contact=True)]], resize_keyboard=True, one_time_keyboard=True
    )


@dataclass(frozen=True)
class Outgoing:
    text: str
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None = None


def render(messages: Sequence[BotMessage]) -> list[Outgoing]:
    """Telegram messages for the bot's replies: split long texts, buttons on the last piece, and
    the contact keyboard when the last reply asks for a phone number."""
    out: list[Outgoing] = []
    for message in messages:
        if not message.text.strip() and not message.buttons:
            continue
        pieces = split_text(message.text) if message.text.strip() else [TELEGRAM_CHOOSE]
        out.extend(Outgoing(piece) for piece in pieces[:-1])
        markup = inline_keyboard(message.buttons) if message.buttons else None
        out.append(Outgoing(pieces[-1], markup))
    if out and out[-1].markup is None and asks_for_phone(messages[-1].text):
        out[-1] = Outgoing(out[-1].text, contact_keyboard())
    return out


def numbered_text(message: BotMessage) -> str:
    """A message as plain text, buttons as numbered lines (for senders without the callback-data cache)."""
    lines = [message.text] if message.text.strip() else [TELEGRAM_CHOOSE] if message.buttons else []
    return "\n".join([*lines, *numbered_lines(message.buttons)])


# ---- talking to the citizen ----------------------------------------------------------------
async def _show(context: ContextTypes.DEFAULT_TYPE, chat_id: int, replies: Sequence[BotMessage]) -> None:
    state = _state(context)
    outgoing = render(replies)
    if outgoing and isinstance(outgoing[-1].markup, ReplyKeyboardMarkup):
        state.contact_keyboards[chat_id] = None
        while len(state.contact_keyboards) > 10_000:
            state.contact_keyboards.popitem(last=False)
    elif chat_id in state.contact_keyboards:  # the number was given (or the talk moved on): hide the button
        for i, item in enumerate(outgoing):
            if item.markup is None:
                outgoing[i] = Outgoing(item.text, ReplyKeyboardRemove())
                del state.contact_keyboards[chat_id]
                break
    for item in outgoing:
        await context.bot.send_message(chat_id, item.text, reply_markup=item.markup)


async def _converse(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, kind: str) -> None:
    """Send ``text`` through the gateway as the citizen and show the replies."""
    if not isinstance(text, str):  # the Bot API's types are not checked on the way in: a forged update
        text = ""
    if update.effective_chat is None:  # in_chat_order runs no handler without a chat
        return
    chat_id = update.effective_chat.id
    sender = sender_id(chat_id)
    with contextlib.suppress(TelegramError):  # the typing hint is cosmetic
        await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
    started = time.perf_counter()
    replies = await _state(context).gateway.handle(sender, text)
    await _show(context, chat_id, replies)
    log_event(
        logger,
        "telegram_message",
        sender,
        kind=kind,
        replies=len(replies),
        ms=round((time.perf_counter() - started) * 1000),
    )


async def _apologise(update: object, context: ContextTypes.DEFAULT_TYPE, error: BaseException | None) -> None:
    """The one place errors are translated: log the type only (privacy), tell the citizen to retry."""
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is None:
        logger.warning("telegram error without a chat: %s", type(error).__name__)
        return
    log_event(logger, "telegram_error", sender_id(chat.id), error=type(error).__name__)
    with contextlib.suppress(TelegramError):
        await context.bot.send_message(chat.id, TRY_LATER)


Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def in_chat_order(handler: Handler) -> Handler:
    """Run ``handler`` under its chat's lock; failures become the polite retry message, in order."""

    @functools.wraps(handler)
    async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat, state = update.effective_chat, _state(context)
        if chat is None:
            return
        # update ids are per bot (the token starts with the bot's id): bots may share a database
        key = f"tg:{context.bot.token.partition(':')[0]}:update:{update.update_id}"
        async with state.locks.hold(chat.id):
            if already_delivered(state.deliveries, key):
                log_event(logger, "telegram_duplicate", sender_id(chat.id))
                return
            try:
                await handler(update, context)
            except Exception as exc:  # noqa: BLE001 - translated once, here, while the chat is still ours
                await _apologise(update, context, exc)
            mark_delivered(state.deliveries, key)

    return wrapped


# ---- handlers ------------------------------------------------------------------------------
async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the citizen's text through the gateway."""
    if update.effective_message is None:  # filters.TEXT passes only updates with a message
        return
    await _converse(update, context, update.effective_message.text or "", kind="text")


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet with the bot's own greeting, which shows what it can do as buttons."""
    await _converse(update, context, START_TEXT, kind="start")


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain what to type and the commands."""
    if update.effective_chat is None:
        return
    await context.bot.send_message(update.effective_chat.id, TELEGRAM_HELP)


async def on_human(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask for a person."""
    await _converse(update, context, HUMAN_TEXT, kind="human")


async def on_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Cancel what is being filled in."""
    await _converse(update, context, CANCEL_TEXT, kind="cancel")


async def on_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Look up a case; without a reference number the bot asks for one (utter_ask_reference)."""
    text = " ".join([STATUS_TEXT, *(context.args or [])])
    await _converse(update, context, text, kind="status")


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send a pressed button's payload through the gateway."""
    query = update.callback_query
    if query is None or update.effective_chat is None:  # CallbackQueryHandler: both are there
        return
    with contextlib.suppress(TelegramError):  # stops the client's spinner; a stale query must not block the answer
        await query.answer()
    # The cache put our payload (a string) back; a key it no longer has (or never had) arrives as
    # InvalidCallbackData, and a query without data (a game's) as None: an expired button either way.
    payload = query.data
    if not isinstance(payload, str):
        log_event(logger, "telegram_button_unknown", sender_id(update.effective_chat.id))
        await context.bot.send_message(update.effective_chat.id, EXPIRED_BUTTON)
        return
    await _converse(update, context, payload, kind="button")


async def on_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forward the citizen's own phone number (sharing it is their consent); refuse anyone else's."""
    if update.effective_message is None or update.effective_chat is None:  # filters.CONTACT: both are there
        return
    contact = update.effective_message.contact
    user = update.effective_user
    if user is None or contact is None or contact.user_id != user.id:
        log_event(logger, "telegram_contact_refused", sender_id(update.effective_chat.id))
        await context.bot.send_message(update.effective_chat.id, OTHERS_CONTACT)
        return
    await _converse(update, context, local_phone(str(contact.phone_number or "")), kind="contact")


async def on_unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say politely that only typed text is understood."""
    if update.effective_chat is None:
        return
    log_event(logger, "telegram_unsupported", sender_id(update.effective_chat.id))
    await context.bot.send_message(update.effective_chat.id, TELEGRAM_ONLY_TEXT)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error's type and tell the citizen to try again later."""
    await _apologise(update, context, context.error)


async def _register_commands(application: Application) -> None:
    await application.bot.set_my_commands(COMMANDS)


def local_phone(phone: str) -> str:
    """Telegram's ``8613812345678`` / ``+86 138…`` as the 11 digits citizens type (and the bot validates)."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 13 and digits.startswith("861"):
        return digits[2:]
    return ("+" + digits) if phone.strip().startswith("+") else digits


# ---- wiring --------------------------------------------------------------------------------
def build_application(settings: Settings, gateway: ReplySource, deliveries: DeliveryLog | None = None) -> Application:
    """The PTB application: handlers for private chats, per-chat order, many chats at once; ``deliveries``
    remembers handled update ids across restarts."""
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_base_url)
        .base_file_url(file_base_url(settings.telegram_base_url))
        .concurrent_updates(True)
        .arbitrary_callback_data(BUTTON_KEYBOARDS)
        .post_init(_register_commands)
    )
    if settings.telegram_webhook_url:
        builder = builder.updater(None)  # updates arrive through our webhook server instead
    application = builder.build()
    application.bot_data["channel"] = ChannelState(gateway, deliveries=deliveries)

    private = filters.ChatType.PRIVATE
    for command, handler in (
        ("start", on_start),
        ("help", on_help),
        ("human", on_human),
        ("cancel", on_cancel),
        ("status", on_status),
    ):
        application.add_handler(CommandHandler(command, in_chat_order(handler), filters=private))
    application.add_handler(MessageHandler(private & filters.COMMAND, in_chat_order(on_help)))  # unknown commands
    application.add_handler(MessageHandler(private & filters.TEXT, in_chat_order(on_text)))
    application.add_handler(MessageHandler(private & filters.CONTACT, in_chat_order(on_contact)))
    application.add_handler(MessageHandler(private & filters.ATTACHMENT, in_chat_order(on_unsupported)))
    application.add_handler(CallbackQueryHandler(in_chat_order(on_button)))
    application.add_error_handler(on_error)
    return application


def webhook_app(application: Application, secret: str, path: str):
    """A Starlette app taking Telegram's POSTs at ``path``; no matching secret header, no entry (403).
    An update is answered 200 only once it has been handled."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    expected = secret.encode("utf-8")

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8")
        if not expected or not hmac.compare_digest(given, expected):
            return Response(status_code=403)
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
            application.bot.insert_callback_data(update)  # PTB's own webhook server does this too
        except Exception:  # noqa: BLE001 - any malformed body is the sender's problem, not ours
            return Response(status_code=400)
        # Handled before the 200: Telegram forgets an update once acknowledged, so one acknowledged
        # first would be lost if the worker died mid-handling (a redelivery is answered once: deliveries).
        await application.update_processor.process_update(update, application.process_update(update))
        return Response()

    return Starlette(routes=[Route(path, receive, methods=["POST"])])


async def serve_webhook(application: Application, settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Register the webhook with Telegram and serve it on 127.0.0.1 until ``stop`` is set.

    The local path is the public URL's path (the reverse proxy passes it through).
    """
    import uvicorn

    class _Server(uvicorn.Server):
        # The worker owns the signals: it stops taking updates, then lets the app finish its work.
        @contextlib.contextmanager
        def capture_signals(self):
            yield

    path = urlsplit(settings.telegram_webhook_url).path or "/"
    server = _Server(
        uvicorn.Config(
            webhook_app(application, settings.telegram_webhook_secret, path),
            host="127.0.0.1",
            port=settings.telegram_webhook_port,
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
    )
    stop = stop or asyncio.Event()
    async with application:
        await _register_commands(application)
        await application.bot.set_webhook(
            settings.telegram_webhook_url,
            allowed_updates=ALLOWED_UPDATES,
            secret_token=settings.telegram_webhook_secret,
        )
        await application.start()
        serving = asyncio.create_task(server.serve())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            server.should_exit = True
            stopping.cancel()
            try:
                await serving
            finally:
                await application.stop()


async def _webhook_until_signal(application: Application, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_webhook(application, settings, stop)


def run(settings: Settings, build_gateway: Callable[[Settings], Gateway]) -> int:
    """Run the Telegram worker: long polling, or a webhook when ``TELEGRAM_WEBHOOK_URL`` is set.
    ``build_gateway`` comes from the composition root (the entry point passes it)."""
    if not settings.telegram_bot_token:
        print(NOT_CONFIGURED)
        return 0
    if settings.telegram_webhook_url and not settings.telegram_webhook_secret:
        print(NEEDS_SECRET, file=sys.stderr)
        return 2
    # PTB logs whole updates (the citizen's text) at DEBUG, httpx logs URLs (with the token) at INFO.
    logging.getLogger("telegram").setLevel(max(logging.INFO, logging.getLogger("telegram").getEffectiveLevel()))
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    gateway = build_gateway(settings)
    application = build_application(settings, gateway, deliveries=gateway.handoff.store if gateway.handoff else None)
    if settings.telegram_webhook_url:
        asyncio.run(_webhook_until_signal(application, settings))
    else:
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


# ---- outbound ------------------------------------------------------------------------------
class TelegramSender:
    """Messages outside a reply (staff, notices) over the Bot API's ``sendMessage``.

    Inline buttons are not possible here (their callback data lives in the worker's cache, another
    process), so buttons become numbered lines.
    """

    def __init__(self, token: str, base_url: str = "https://api.telegram.org/bot", timeout: float = 10.0) -> None:
        self._url = f"{base_url}{token}/sendMessage"
        self._timeout = timeout

    async def send(self, sender_id: str, messages: Sequence[BotMessage]) -> None:
        channel, _, raw = sender_id.partition(":")
        if channel != "tg" or not raw.lstrip("-").isdigit():
            raise DeliveryError("not a Telegram sender id")
        chat_id = int(raw)
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            for message in messages:
                text = numbered_text(message)
                if not text.strip():
                    continue
                for piece in split_text(text):
                    try:
                        response = await client.post(self._url, json={"chat_id": chat_id, "text": piece})
                    except httpx.HTTPError as exc:
                        # `from None`: the chained error carries the URL, and the URL carries the token.
                        raise DeliveryError(f"Telegram sendMessage failed: {type(exc).__name__}") from None
                    if response.status_code != 200:
                        raise DeliveryError(f"Telegram sendMessage failed: HTTP {response.status_code}")
