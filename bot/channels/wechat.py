"""WeChat official account (微信公众号): the ``/wechat`` webhook and the customer-service sender.

WeChat posts every citizen message as XML (AES-encrypted in safe mode) and takes exactly one
passive reply, within 5 seconds, or it retries the same message. This adapter only translates:
a message becomes ``(f"wx:{openid}", text)`` for the gateway, and the gateway's replies become one
WeChat text (buttons as numbered options). What does not fit the passive reply (too long, or the
bot was too slow) goes out afterwards through the customer-service message API.

Every POST must be fresh: its signed ``timestamp`` within ``wechat_replay_window`` seconds of our
clock, and its signed ``(timestamp, nonce)`` not seen before (the URL signature covers only token,
timestamp and nonce, so a captured URL could otherwise be replayed with any body as any openid).
With ``WECHAT_AES_KEY`` set only encrypted messages with a valid ``msg_signature`` are taken.

In-memory state (retries already seen, the options last shown, the nonces of the replay window)
is per process: run the webhook in one worker process. Several workers would each remember only
their own nonces, so a replay sent to another worker would pass; they would need a shared store
(Redis, say, which the app does not use today).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol

import httpx
from cachetools import TTLCache
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.background import BackgroundTask
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from bot.channels.deliveries import DeliveryLog, already_delivered, mark_delivered
from bot.channels.rendering import numbered_lines, pack, split_text, utf8_bytes
from bot.privacy import log_event
from bot.rasa_client import BotMessage, RasaUnavailable
from bot.services.outbound import DeliveryError
from bot.settings import Settings
from bot.web.limits import MAX_BODY_BYTES, client_address, trusted_networks
from bot.wording import TRY_LATER, VOICE_NOT_RECOGNISED, WECHAT_CHOOSE, WECHAT_TEXT_ONLY

logger = logging.getLogger("bot.channels.wechat")

# The channel's protocol texts (what citizens read is in bot/wording.py): the texts the menu sends to the NLU,
# and the webhook's answers to WeChat's servers.
SUCCESS = "success"  # WeChat's "received, no passive reply": it neither retries nor shows an error
WELCOME_TEXT = "你好"
MENU_TEXTS: Mapping[str, str] = {"LEGAL_AID": "我要申请法律援助", "MEDIATION": "我要预约调解", "HUMAN": "转人工"}
BAD_SIGNATURE = "签名校验失败。"
BAD_REQUEST = "请求不完整或格式不正确。"

MAX_TEXT_BYTES = 2048  # WeChat's limit for one text message (passive or customer-service), UTF-8 bytes
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid / malformed / expired access token
SUBSCRIBE_EVENTS = frozenset({"subscribe", "subscribe_scan"})  # scanning a QR code to follow is a follow too
DEFAULT_API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
#: An openid or an account id (gh_…): both are echoed into the reply's XML, so nothing else is taken.
ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ChatGateway(Protocol):
    async def handle(self, sender_id: str, text: str, address: str | None = None) -> list[BotMessage]:
        """The replies to one citizen message (``address``: where it came from); may raise RasaUnavailable."""


# ---------------------------------------------------------------------------------------------
# Rendering: bot messages -> WeChat texts


def render(messages: Sequence[BotMessage]) -> tuple[list[str], list[str]]:
    """WeChat texts for some bot messages, and the payloads of their buttons in option order.

    WeChat has no buttons, so they become numbered options ("回复数字选择：\\n1. …"), numbered on
    across the messages of one turn. Messages are joined with blank lines into as few texts of at
    most ``MAX_TEXT_BYTES`` as possible.
    """
    parts: list[str] = []
    payloads: list[str] = []
    for message in messages:
        part = message.text.strip()
        if message.buttons:
            lines = [WECHAT_CHOOSE, *numbered_lines(message.buttons, start=len(payloads) + 1)]
            payloads.extend(button.payload or button.title for button in message.buttons)
            part = "\n".join([part, *lines] if part else lines)
        if part:
            parts.append(part)
    return _pack(parts), payloads


def _pack(parts: list[str], limit: int = MAX_TEXT_BYTES) -> list[str]:
    pieces = [piece for part in parts for piece in split_text(part, limit, utf8_bytes)]
    return [chunk for chunk in pack(pieces, "\n\n", limit, utf8_bytes) if chunk]


def _cdata_safe(text: str) -> str:
    """wechatpy writes text into a CDATA section verbatim; a ``]]>`` inside would end it early."""
    return text.replace("]]>", "]]]]><![CDATA[>")


def _openid(sender_id: str) -> str:
    channel, _, openid = sender_id.partition(":")
    if channel != "wx" or not openid:
        raise DeliveryError("not a WeChat sender id")
    return openid


# ---------------------------------------------------------------------------------------------
# Small bounded memories


def first_time(memory: TTLCache, key: Hashable) -> bool:
    """Remember ``key`` in a bounded, expiring memory; False if it was there already (a repeat)."""
    if key in memory:
        return False
    memory[key] = True
    return True


# ---------------------------------------------------------------------------------------------
# Outbound: the customer-service message API


class _AccessToken:
    """One app's access token, shared by every sender of that app in the process.

    WeChat keeps only the newest token (and the previous one for a few minutes), so two senders
    fetching their own tokens would keep invalidating each other.
    """

    def __init__(self) -> None:
        self.value: str | None = None
        self.expires_at = 0.0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def current(self) -> str | None:
        return self.value if self.value and time.monotonic() < self.expires_at else None

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:  # an asyncio.Lock belongs to one loop
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def store(self, value: str, expires_in: int) -> None:
        # Refresh shortly before WeChat's expiry (5 minutes; half the lifetime if that is shorter).
        self.value = value
        self.expires_at = time.monotonic() + expires_in - min(300.0, expires_in / 2)

    def invalidate(self, value: str) -> None:
        if self.value == value:  # not a newer token another coroutine has just fetched
            self.value = None


_TOKENS: dict[tuple[str, str], _AccessToken] = {}


class WeChatSender:
    """Sends texts to WeChat users (``wx:<openid>``) through the customer-service message API.

    Implements the outbound ``ChannelSender`` protocol. WeChat accepts these only within 48 hours
    of the citizen's last message; a refusal is raised as ``DeliveryError``.
    """

    def __init__(
        self, app_id: str, app_secret: str, api_base_url: str = DEFAULT_API_BASE_URL, timeout: float = 10.0
    ) -> None:
        self._app_id = app_id
        self._app_secret = app_secret
        self._base = api_base_url.rstrip("/") + "/"
        self._timeout = timeout
        self._token = _TOKENS.setdefault((self._base, app_id), _AccessToken())

    @classmethod
    def from_settings(cls, settings: Settings) -> WeChatSender:
        return cls(settings.wechat_app_id, settings.wechat_app_secret, settings.wechat_api_base_url)

    async def send(self, sender_id: str, messages: Sequence[BotMessage]) -> None:
        """Deliver bot messages to one citizen, in order (buttons as numbered options)."""
        texts, _payloads = render(messages)
        await self.send_texts(sender_id, texts)

    async def send_texts(self, sender_id: str, texts: Sequence[str]) -> None:
        """Deliver ready WeChat texts (each at most ``MAX_TEXT_BYTES``), in order."""
        openid = _openid(sender_id)
        if not texts:
            return
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                for text in texts:
                    await self._send_one(client, openid, text)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"WeChat API unreachable ({type(exc).__name__})") from exc
        except ValueError as exc:  # not JSON: a proxy's error page, say
            raise DeliveryError(f"unexpected WeChat API answer ({type(exc).__name__})") from exc

    async def _send_one(self, client: httpx.AsyncClient, openid: str, text: str) -> None:
        # ensure_ascii=False: WeChat shows \\uXXXX escapes literally instead of decoding them.
        body = json.dumps({"touser": openid, "msgtype": "text", "text": {"content": text}}, ensure_ascii=False).encode(
            "utf-8"
        )
        for attempt in (1, 2):
            token = await self._access_token(client)
            response = await client.post(
                self._base + "message/custom/send",
                params={"access_token": token},
                content=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            response.raise_for_status()
            errcode = int(response.json().get("errcode", 0))
            if errcode == 0:
                return
            if errcode in TOKEN_ERRORS and attempt == 1:
                self._token.invalidate(token)
                continue
            raise DeliveryError(f"WeChat refused the message (errcode {errcode})")

    async def _access_token(self, client: httpx.AsyncClient) -> str:
        token = self._token.current()
        if token:
            return token
        async with self._token.lock():
            token = self._token.current()
            if token:  # fetched by another coroutine while this one waited
                return token
            response = await client.get(
                self._base + "token",
                params={"grant_type": "client_credential", "appid": self._app_id, "secret": self._app_secret},
            )
            response.raise_for_status()
            data = response.json()
            if not data.get("access_token"):
                raise DeliveryError(f"WeChat gave no access token (errcode {data.get('errcode')})")
            self._token.store(data["access_token"], int(data.get("expires_in") or 7200))
            return data["access_token"]


# ---------------------------------------------------------------------------------------------
# Inbound: one WeChat message -> the passive reply


class WeChatConversation:
    """Turns WeChat messages into gateway calls and the gateway's replies into WeChat texts."""

    def __init__(
        self,
        gateway: ChatGateway,
        sender: WeChatSender | None,
        reply_timeout: float = 4.0,
        menu: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        deliveries: DeliveryLog | None = None,
    ) -> None:
        self.gateway = gateway
        self.deliveries = deliveries
        self.sender = sender
        self.reply_timeout = reply_timeout
        self.menu = dict(MENU_TEXTS if menu is None else menu)
        # WeChat retries three times within about 15 s; five minutes is ample.
        self.seen: TTLCache = TTLCache(maxsize=20_000, ttl=300, timer=clock)
        self.options: TTLCache = TTLCache(maxsize=20_000, ttl=1800, timer=clock)
        self._background: set[asyncio.Task] = set()

    async def answer(self, message: Any, address: str | None = None) -> tuple[str, list[str]]:
        """The passive reply to one parsed WeChat message (``SUCCESS`` for none) and texts to send after it.

        ``address``: the client address it came from (WeChat's server), for the gateway's limits."""
        sender_id = f"wx:{message.source}"
        kind = message.event if message.type == "event" else message.type
        key = _retry_key(message)
        # In-flight retries are caught in memory; the delivery log also remembers what was handled
        # before a restart or by another instance.
        if not first_time(self.seen, key) or already_delivered(self.deliveries, key):
            log_event(logger, "wechat_duplicate", sender_id, kind=kind)
            return SUCCESS, []
        log_event(logger, "wechat_in", sender_id, kind=kind)
        try:
            return await self._answer(message, sender_id, address)
        finally:
            mark_delivered(self.deliveries, key)

    async def _answer(self, message: Any, sender_id: str, address: str | None) -> tuple[str, list[str]]:
        if message.type == "text":
            return await self._converse(sender_id, self._choice(sender_id, message.content or ""), address)
        if message.type == "voice":
            recognition = (message.recognition or "").strip()
            if not recognition:
                return VOICE_NOT_RECOGNISED, []
            return await self._converse(sender_id, self._choice(sender_id, recognition), address)
        if message.type == "event":
            if message.event in SUBSCRIBE_EVENTS:
                return await self._converse(sender_id, WELCOME_TEXT, address)
            if message.event == "click":
                return await self._converse(sender_id, self.menu.get(message.key or "", WELCOME_TEXT), address)
            return SUCCESS, []  # unsubscribe, menu links, location reports, template receipts …
        # image, video, shortvideo, location, link, and anything newer WeChat may add
        return WECHAT_TEXT_ONLY, []

    def _choice(self, sender_id: str, text: str) -> str:
        """A bare number picks from the options last shown to this citizen; anything else is sent as typed."""
        number = text.strip().rstrip("。.．!！ ")
        if number.isdecimal() and len(number) <= 2:
            options = self.options.get(sender_id)
            if options and 1 <= int(number) <= len(options):
                self.options.pop(sender_id, None)
                return options[int(number) - 1]
        return text

    async def _converse(self, sender_id: str, text: str, address: str | None) -> tuple[str, list[str]]:
        started = time.monotonic()
        work = asyncio.ensure_future(self._ask(sender_id, text, address))
        try:
            # shield: on time-out only the waiting stops; the conversation itself goes on.
            replies = await asyncio.wait_for(asyncio.shield(work), self.reply_timeout)
        except TimeoutError:
            log_event(logger, "wechat_reply_late", sender_id, after_ms=int((time.monotonic() - started) * 1000))
            self._in_background(self._deliver_late(sender_id, work))
            return SUCCESS, []
        texts = self._shown(sender_id, replies)
        log_event(logger, "wechat_reply", sender_id, texts=len(texts), ms=int((time.monotonic() - started) * 1000))
        return (texts[0], texts[1:]) if texts else (SUCCESS, [])

    async def _ask(self, sender_id: str, text: str, address: str | None) -> list[BotMessage]:
        """The gateway's replies; never raises (the one place this channel turns errors into a reply)."""
        try:
            return await self.gateway.handle(sender_id, text, address)
        except RasaUnavailable:
            log_event(logger, "rasa_unavailable", sender_id, channel="wx")
        except Exception as exc:  # noqa: BLE001 - a citizen must get an answer, never a trace
            log_event(logger, "wechat_gateway_error", sender_id, error=type(exc).__name__)
        return [BotMessage(TRY_LATER)]

    def _shown(self, sender_id: str, replies: Sequence[BotMessage]) -> list[str]:
        """Render replies that are about to be shown, and remember their options (or forget stale ones)."""
        texts, payloads = render(replies)
        if texts:
            if payloads:
                self.options[sender_id] = payloads
            else:
                self.options.pop(sender_id, None)
        return texts

    async def _deliver_late(self, sender_id: str, work: Awaitable[list[BotMessage]]) -> None:
        await self.deliver(sender_id, self._shown(sender_id, await work))

    async def deliver(self, sender_id: str, texts: Sequence[str]) -> None:
        """Send texts through the customer-service API; failures are logged, never raised."""
        if not texts:
            return
        if self.sender is None:
            log_event(logger, "wechat_undeliverable", sender_id, reason="no_app_secret", texts=len(texts))
            return
        try:
            await self.sender.send_texts(sender_id, texts)
            log_event(logger, "wechat_sent", sender_id, texts=len(texts))
        except DeliveryError as exc:  # its message names only an errcode or an exception type
            log_event(logger, "wechat_undeliverable", sender_id, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - background work must not die noisily
            log_event(logger, "wechat_undeliverable", sender_id, error=type(exc).__name__)

    def _in_background(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._background.discard)


def _retry_key(message: Any) -> str:
    """What WeChat keeps the same when it retries: MsgId, or sender + time (+ event) for events."""
    if message.id:
        return f"wx:msg:{message.id}"
    return f"wx:event:{message.source}:{message.time}:{getattr(message, 'event', '')}"[:128]


# ---------------------------------------------------------------------------------------------
# The HTTP edge


def _signature(*parts: str) -> str:
    return hashlib.sha1(b"".join(sorted(p.encode("utf-8") for p in parts))).hexdigest()


def _signed(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    # As wechatpy.utils.check_signature, but compared in constant time.
    return hmac.compare_digest(_signature(token, timestamp, nonce).encode(), signature.encode("utf-8"))


def _fresh(timestamp: str, window: float) -> bool:
    """Whether WeChat's signed timestamp (Unix seconds) is within ``window`` seconds of our clock."""
    try:
        return abs(time.time() - int(timestamp)) <= window
    except ValueError:
        return False


def _text(content: str, status: int) -> PlainTextResponse:
    return PlainTextResponse(content, status_code=status)


def wechat_router(
    settings: Settings,
    gateway: ChatGateway,
    *,
    sender: WeChatSender | None = None,
    reply_timeout: float = 4.0,
    menu: Mapping[str, str] | None = None,
    deliveries: DeliveryLog | None = None,
) -> APIRouter:
    """The ``/wechat`` webhook: GET answers WeChat's server check, POST takes citizen messages.

    Args:
        settings: ``wechat_token`` (required), ``wechat_aes_key`` + ``wechat_app_id`` (safe mode, then
            required), ``wechat_replay_window`` (seconds a signed URL is accepted),
            ``wechat_app_secret`` + ``wechat_api_base_url`` (late and overflow replies).
        gateway: where citizen texts go (with the client address: WeChat's server, shared by all its users).
        sender: customer-service sender; built from ``settings`` when the app secret is set.
        reply_timeout: seconds to wait for the bot before answering ``success`` and replying later.
        menu: custom-menu CLICK keys -> the text they stand for (default ``MENU_TEXTS``).
        deliveries: the log of MsgIds already answered (the case store), kept across restarts.
    """
    token = settings.wechat_token
    if not token:
        raise ValueError("WECHAT_TOKEN is not set; the WeChat webhook cannot check signatures")
    crypto = None
    if settings.wechat_aes_key:
        if not settings.wechat_app_id:
            raise ValueError("WECHAT_AES_KEY is set but WECHAT_APP_ID is not; safe mode needs both")
        try:
            crypto = WeChatCrypto(token, settings.wechat_aes_key, settings.wechat_app_id)
        except Exception as exc:  # wechatpy asserts the key length; say what is wrong instead
            raise ValueError("WECHAT_AES_KEY must be the 43-character EncodingAESKey") from exc
    if sender is None and settings.wechat_app_id and settings.wechat_app_secret:
        sender = WeChatSender.from_settings(settings)
    conversation = WeChatConversation(gateway, sender, reply_timeout, menu, deliveries=deliveries)
    trusted = trusted_networks(settings.trusted_proxies)
    window = settings.wechat_replay_window
    # A URL stays acceptable while its timestamp is within the window: at most 2 * window seconds.
    nonces: TTLCache = TTLCache(maxsize=100_000, ttl=2 * window)
    router = APIRouter()

    @router.get("/wechat")
    def verify(request: Request) -> Response:
        """Answer WeChat's server-address check with the echo string."""
        q = request.query_params
        signature, timestamp, nonce, echostr = (q.get(k) for k in ("signature", "timestamp", "nonce", "echostr"))
        if not (signature and timestamp and nonce and echostr):
            return _text(BAD_REQUEST, 400)
        if not _signed(token, signature, timestamp, nonce):
            log_event(logger, "wechat_bad_signature", "wx:?", method="GET")
            return _text(BAD_SIGNATURE, 403)
        return _text(echostr, 200)

    @router.post("/wechat")
    async def receive(request: Request) -> Response:
        """Take one citizen message and give WeChat the passive reply."""
        q = request.query_params
        signature, timestamp, nonce = (q.get(k) for k in ("signature", "timestamp", "nonce"))
        if not (signature and timestamp and nonce):
            return _text(BAD_REQUEST, 400)
        if not _signed(token, signature, timestamp, nonce):
            log_event(logger, "wechat_bad_signature", "wx:?", method="POST")
            return _text(BAD_SIGNATURE, 403)
        if not _fresh(timestamp, window):
            log_event(logger, "wechat_stale", "wx:?")
            return _text(BAD_SIGNATURE, 403)
        safe_mode = (q.get("encrypt_type") or "raw").lower() == "aes"
        if crypto is not None and not safe_mode:  # plaintext would carry a body nobody signed
            log_event(logger, "wechat_plaintext_refused", "wx:?")
            return _text(BAD_SIGNATURE, 403)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _text(BAD_REQUEST, 400)
        try:
            if safe_mode:
                msg_signature = q.get("msg_signature")
                if crypto is None or not msg_signature:
                    log_event(
                        logger,
                        "wechat_cannot_decrypt",
                        "wx:?",
                        reason="no_aes_key" if crypto is None else "no_msg_signature",
                    )
                    return _text(BAD_REQUEST, 400)
                xml = crypto.decrypt_message(body, msg_signature, timestamp, nonce)
            else:
                xml = body
            # Signed and fresh: a (timestamp, nonce) seen before is a replay. "success" rather than
            # an error, in case WeChat itself retries with the same URL: either way nothing is handled.
            if not first_time(nonces, (timestamp, nonce)):
                log_event(logger, "wechat_replay", "wx:?")
                return _text(SUCCESS, 200)
            message = parse_message(xml)
            if message is None or not all(ACCOUNT_ID.fullmatch(m or "") for m in (message.source, message.target)):
                return _text(BAD_REQUEST, 400)
        except (InvalidSignatureException, InvalidAppIdException):
            log_event(logger, "wechat_bad_signature", "wx:?", method="POST", encrypted=True)
            return _text(BAD_SIGNATURE, 403)
        except Exception as exc:  # noqa: BLE001 - malformed XML, bad base64 …: no trace goes back
            log_event(logger, "wechat_bad_body", "wx:?", error=type(exc).__name__)
            return _text(BAD_REQUEST, 400)

        sender_id = f"wx:{message.source}"
        try:
            reply, later = await conversation.answer(message, client_address(request, trusted))
        except Exception as exc:  # noqa: BLE001 - answer() should not raise; if it does, no trace leaks
            log_event(logger, "wechat_error", sender_id, error=type(exc).__name__)
            reply, later = TRY_LATER, []
        if reply == SUCCESS:
            return _text(SUCCESS, 200)
        try:
            xml = create_reply(_cdata_safe(reply), message=message, render=True)
            if crypto is not None and safe_mode:
                xml = crypto.encrypt_message(xml, nonce, timestamp)
        except Exception as exc:  # noqa: BLE001
            log_event(logger, "wechat_error", sender_id, error=type(exc).__name__, during="reply")
            return _text(SUCCESS, 200)
        # What did not fit goes out through the customer-service API once the passive reply is sent,
        # so the citizen reads the parts in order.
        background = BackgroundTask(conversation.deliver, sender_id, later) if later else None
        return Response(xml, media_type="application/xml", background=background)

    return router
