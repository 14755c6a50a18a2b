"""Fuzzing the channel webhooks: WeChat's ``/wechat`` (signatures, XML, safe mode) and the Telegram webhook.

The WeChat router runs as in ``tests/unit/channels/test_wechat.py`` (``WeChatServer``, signed queries), but behind
the real gateway and the Rasa twin, so the limits on what reaches the bot are the real ones. The
Telegram application is the real one against the fake Bot API of ``tests/fakes/telegram_api.py``.
Both are driven from one event loop per module (Hypothesis runs plain functions).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import uuid
from xml.sax.saxutils import escape as xml_escape

import httpx
import pytest
import xmltodict
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st
from telegram import Update

from bot.channels.telegram import SECRET_HEADER, build_application, webhook_app
from bot.channels.wechat import BAD_REQUEST, BAD_SIGNATURE, MAX_BODY_BYTES, SUCCESS
from bot.rasa_client import MAX_MESSAGE_CHARS
from bot.services.gateway import Gateway
from bot.storage.memory import InMemoryCaseStore
from bot.wording import EMPTY, TOO_LONG, TRY_LATER
from tests.fakes.telegram_api import FakeTelegram
from tests.support.fuzz import (
    FUZZ,
    HEADER,
    JSON,
    PARAM,
    RAW_BODY,
    SHORT_TEXT,
    TEXT,
    FuzzRasa,
    dumps,
    fits_in_url,
    no_trace,
)
from tests.unit.channels import test_telegram
from tests.unit.channels.test_wechat import (
    TOKEN,
    WeChatServer,
    message_xml,
    sha1_signature,
    signed_query,
    text_xml,
    wechat_api_server,  # noqa: F401 - the fixture is used by name
)

_ids = itertools.count(7_000_000_000_000_000_001)


@pytest.fixture(scope="module")
def run():
    """Run a coroutine on the module's one event loop (the apps' clients and locks live there)."""
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


# ==== WeChat ==========================================================================================
@pytest.fixture(scope="module")
def wechat(run, wechat_api_server):  # noqa: F811
    """The raw-mode and the safe-mode (AES) webhook, both in front of the real gateway."""
    rasa = FuzzRasa()
    raw = WeChatServer(Gateway(rasa), wechat_api_server, deliveries=InMemoryCaseStore())
    aes = WeChatServer(Gateway(rasa), wechat_api_server, aes=True, deliveries=InMemoryCaseStore())
    raw.rasa = aes.rasa = rasa
    yield raw, aes
    run(raw.client.aclose())
    run(aes.client.aclose())


def xml_legal(char: str) -> bool:
    """What XML 1.0 may carry at all (escaped or not)."""
    code = ord(char)
    return char in "\t\n\r" or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000


def as_xml(text: str) -> str:
    """As it comes back out of an XML parser: line ends normalised, and what xmltodict strips."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def check_wechat(response) -> None:
    no_trace(response)
    assert response.status_code in (200, 400, 403), response.text[:300]
    if response.status_code == 400:
        assert response.text == BAD_REQUEST
    elif response.status_code == 403:
        assert response.text == BAD_SIGNATURE
    elif response.text != SUCCESS:
        assert response.headers["content-type"].startswith("application/xml")
        xmltodict.parse(response.text)  # a reply WeChat can read


QUERY_KEYS = ("signature", "timestamp", "nonce", "echostr", "openid", "encrypt_type", "msg_signature")


@st.composite
def forged_queries(draw) -> dict[str, str]:
    """Queries whose signature is missing, random, made with another token, or for other values."""
    query = signed_query(token=draw(st.sampled_from([TOKEN, "guessed-token", ""])))
    for key in QUERY_KEYS:
        choice = draw(st.sampled_from(["keep", "drop", "random"]))
        if choice == "drop":
            query.pop(key, None)
        elif choice == "random":
            query[key] = draw(PARAM)
    if draw(st.booleans()):
        query["timestamp"] = (
            str(int(query.get("timestamp", "0") or 0) + 1) if query.get("timestamp", "").isdigit() else draw(PARAM)
        )
    assume(fits_in_url(query))
    return query


def truly_signed(query: dict[str, str]) -> bool:
    parts = [query.get(k) for k in ("signature", "timestamp", "nonce")]
    return all(parts) and sha1_signature(TOKEN, parts[1], parts[2]) == parts[0]


@settings(FUZZ, max_examples=60)
@given(
    query=forged_queries(), body=st.one_of(st.just(text_xml("你好")), RAW_BODY), method=st.sampled_from(["GET", "POST"])
)
@example(query={"signature": "0" * 40, "timestamp": "1", "nonce": "1", "echostr": "x"}, body=b"", method="GET")
@example(query={}, body=text_xml("你好"), method="POST")
def test_wechat_forged_or_missing_signatures_are_refused(run, wechat, query, body, method):
    if truly_signed(query):
        return
    raw, _ = wechat
    seen = len(raw.rasa.seen)
    if method == "GET":
        response = run(raw.client.get("/wechat", params=query))
    else:
        content = body.encode("utf-8") if isinstance(body, str) else body
        response = run(raw.client.post("/wechat", params=query, content=content))
    check_wechat(response)
    event(f"{method} {response.status_code}")
    assert response.status_code in (400, 403)
    assert len(raw.rasa.seen) == seen  # the gateway was not touched


@settings(FUZZ, max_examples=40)
@given(echostr=st.one_of(SHORT_TEXT, PARAM).map(lambda text: text or "0"))
@example(echostr="<script>alert(1)</script>")
def test_wechat_server_check_echoes_exactly_and_as_plain_text(run, wechat, echostr):
    raw, _ = wechat
    response = run(raw.client.get("/wechat", params=signed_query() | {"echostr": echostr}))
    assert response.status_code == 200 and response.text == echostr
    assert response.headers["content-type"].startswith("text/plain")


BOMBS = [
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'
    '&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>bomb</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>",
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>xxe</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>",
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>'
    "<xml><MsgType>text</MsgType><Content>x</Content></xml>",
    '<!DOCTYPE xml [<!ENTITY a "'
    + "A" * 1000
    + '">]><xml><MsgType>text</MsgType><Content>'
    + "&a;" * 50
    + "</Content></xml>",
    "<xml>" + "<a>" * 10_000 + "</a>" * 10_000 + "</xml>",
]
TRUNCATED = st.builds(lambda xml, cut: xml[:cut], st.just(text_xml("老板拖欠工资怎么办")), st.integers(0, 200))


@settings(FUZZ, max_examples=60)
@given(body=st.one_of(st.sampled_from(BOMBS), TRUNCATED, RAW_BODY, SHORT_TEXT.map(lambda t: f"<xml>{t}</xml>")))
@example(body=BOMBS[0])
@example(body=BOMBS[1])
@example(body=b"\xff" * (MAX_BODY_BYTES + 1))
def test_wechat_any_body_with_a_valid_signature_never_crashes(run, wechat, body):
    raw, _ = wechat
    seen = len(raw.rasa.seen)
    content = body.encode("utf-8") if isinstance(body, str) else body
    response = run(raw.client.post("/wechat", params=signed_query(), content=content))
    check_wechat(response)
    event(f"status {response.status_code}")
    for text in raw.rasa.seen[seen:]:  # entities were never expanded into what reached the bot
        assert "lollol" not in text[1] and "root:" not in text[1]
    if isinstance(body, str) and "<!ENTITY" in body:
        assert response.status_code == 400 and len(raw.rasa.seen) == seen


XML_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True)
MSG_TYPES = st.one_of(
    st.sampled_from(
        [
            "text",
            "voice",
            "event",
            "image",
            "link",
            "location",
            "video",
            "shortvideo",
            "file",
            "device_text",
            "TEXT",
            "",
        ]
    ),
    SHORT_TEXT,
)
EVENTS = st.one_of(
    st.sampled_from(["subscribe", "unsubscribe", "CLICK", "VIEW", "SCAN", "LOCATION", "TEMPLATESENDJOBFINISH"]),
    SHORT_TEXT,
)


def xml_value(text: str, cdata: bool) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>" if cdata else xml_escape(text)


@st.composite
def wechat_messages(draw) -> str:
    """A well-formed ``<xml>`` message with arbitrary values, missing fields and extra ones."""
    fields = {
        "ToUserName": draw(st.one_of(st.just("gh_0123456789ab"), SHORT_TEXT)),
        "FromUserName": draw(st.one_of(st.uuids().map(lambda u: u.hex), SHORT_TEXT)),
        "CreateTime": draw(st.one_of(st.integers(0, 2**40).map(str), PARAM)),
        "MsgType": draw(MSG_TYPES),
        "Content": draw(TEXT),
        "MsgId": draw(st.one_of(st.just(str(next(_ids))), PARAM)),
        "Event": draw(EVENTS),
        "EventKey": draw(SHORT_TEXT),
        "Recognition": draw(SHORT_TEXT),
    }
    kept = {k: v for k, v in fields.items() if draw(st.integers(0, 9)) > 0}  # now and then a field is missing
    kept |= draw(st.dictionaries(XML_NAME, SHORT_TEXT, max_size=3))
    cdata = draw(st.booleans())
    body = "".join(f"<{k}>{xml_value(''.join(c for c in v if xml_legal(c)), cdata)}</{k}>" for k, v in kept.items())
    nested = draw(
        st.sampled_from(
            [
                "",
                "<FromUserName><a>1</a></FromUserName>",
                "<Content><b>x</b></Content>",
                '<MsgType a="1">text</MsgType>',
            ]
        )
    )
    return f"<xml>{body}{nested}</xml>"


@settings(FUZZ, max_examples=60)
@given(xml=wechat_messages(), aes=st.booleans())
@example(xml="<xml><MsgType>text</MsgType></xml>", aes=False)
@example(xml="<xml><FromUserName><a>1</a></FromUserName><MsgType>text</MsgType><Content>x</Content></xml>", aes=False)
@example(xml="<xml><MsgType>text</MsgType><MsgId>99999999999999999999999</MsgId><Content>1</Content></xml>", aes=True)
def test_wechat_signed_xml_with_any_fields_gets_a_clear_answer(run, wechat, xml, aes):
    raw, safe = wechat
    if aes:
        response, _ = run(safe.post_encrypted(xml))
    else:
        response = run(raw.post(xml))
    check_wechat(response)
    assert response.status_code in (200, 400)
    answer = (
        ""
        if response.status_code != 200 or response.text == SUCCESS
        else (safe.decrypt(response) if aes else xmltodict.parse(response.text)["xml"])["Content"]
    )
    event(f"{'aes' if aes else 'raw'} {response.status_code} {'try later' if answer == TRY_LATER else ''}")


@settings(FUZZ, max_examples=60)
@given(content=TEXT, aes=st.booleans())
@example(content="  <script>alert(1)</script> ]]> & ' OR 1=1 --  ", aes=False)
@example(content="长" * (MAX_MESSAGE_CHARS + 1), aes=True)
@example(content="\x00\x1b[31m", aes=False)
def test_wechat_text_reaches_the_gateway_exactly(run, wechat, content, aes):
    raw, safe = wechat
    seen = len(raw.rasa.seen)
    openid = uuid.uuid4().hex  # a citizen of their own: no options shown before, no rate limit
    xml = message_xml("text", {"Content": content.replace("]]>", "]]]]><![CDATA[>")}, msg_id=next(_ids), openid=openid)
    if aes:
        response, _ = run(safe.post_encrypted(xml))
        reply = safe.decrypt(response) if response.status_code == 200 else None
    else:
        response = run(raw.post(xml))
        reply = xmltodict.parse(response.text)["xml"] if response.status_code == 200 else None
    check_wechat(response)
    legal = all(xml_legal(c) for c in content)
    sent = len(xml.encode("utf-8"))
    if aes:  # the envelope: base64 of random(16) + length(4) + xml + app id, padded to 32-byte blocks
        plain = 20 + sent + len(safe.settings.wechat_app_id)
        sent = 4 * -(-(plain + 32 - plain % 32) // 3) + 120
    if not legal or sent > MAX_BODY_BYTES:
        assert response.status_code == 400 and len(raw.rasa.seen) == seen
        return
    assert response.status_code == 200 and reply["ToUserName"] == openid and reply["MsgType"] == "text"
    text = as_xml(content)
    event("reached the gateway" if text and len(text) <= MAX_MESSAGE_CHARS else "answered by the gateway")
    if text and len(text) <= MAX_MESSAGE_CHARS:
        assert raw.rasa.seen[seen:] == [(f"wx:{openid}", text)]
    else:
        assert (
            reply["Content"] == (EMPTY if not text else TOO_LONG.format(limit=MAX_MESSAGE_CHARS))
            and len(raw.rasa.seen) == seen
        )


@st.composite
def garbage_envelopes(draw) -> tuple[dict[str, str], bytes]:
    """Safe-mode posts with a valid URL signature and garbage (or a garbage signature) inside."""
    query = signed_query() | {"encrypt_type": draw(st.sampled_from(["aes", "AES", "Aes"]))}
    encrypt = draw(
        st.one_of(
            st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
            SHORT_TEXT,
            st.sampled_from(["", "====", "A" * 43, base64.b64encode(b"\x00" * 48).decode()]),
        )
    )
    encrypt = "".join(c for c in encrypt if xml_legal(c))
    if draw(st.booleans()):  # signed as WeChat would sign it: only the ciphertext is garbage
        query["msg_signature"] = sha1_signature(TOKEN, query["timestamp"], query["nonce"], as_xml(encrypt))
    elif draw(st.booleans()):
        query["msg_signature"] = draw(PARAM)
    body = draw(
        st.one_of(
            st.just(f"<xml><ToUserName>gh</ToUserName><Encrypt>{xml_escape(encrypt)}</Encrypt></xml>".encode()),
            st.just(f"<xml><Encrypt><x>{xml_escape(encrypt)}</x></Encrypt></xml>".encode()),
            RAW_BODY,
        )
    )
    return query, body


@settings(FUZZ, max_examples=50)
@given(envelope=garbage_envelopes())
@example(envelope=({"signature": "x", "timestamp": "1", "nonce": "1", "encrypt_type": "aes"}, b"<xml/>"))
def test_wechat_safe_mode_with_garbage_ciphertext_is_refused(run, wechat, envelope):
    query, body = envelope
    _, safe = wechat
    seen = len(safe.rasa.seen)
    response = run(safe.client.post("/wechat", params=query, content=body))
    check_wechat(response)
    event(f"status {response.status_code}")
    assert response.status_code in (400, 403) and len(safe.rasa.seen) == seen


# ==== Telegram ===========================================================================================
SECRET = "s3cret_Token-1"


@pytest.fixture(scope="module")
def telegram(run):
    """The real application (initialised against the fake Bot API) behind its webhook app."""
    with FakeTelegram() as api:
        gateway = test_telegram.FakeGateway()
        application = build_application(test_telegram.settings_for(api), gateway)
        errors: list[tuple[object, BaseException]] = []

        async def record(update, context) -> None:
            errors.append((update, context.error))

        application.add_error_handler(record)
        handled: list[object] = []  # every update the webhook had processed before it answered
        process_update = application.process_update

        async def recorded(update) -> None:
            handled.append(update)
            await process_update(update)

        application.process_update = recorded
        run(application.initialize())
        webhook = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=webhook_app(application, SECRET, "/tg/hook")), base_url="http://tg.test"
        )
        apologies: list[str] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.getMessage().startswith("telegram_error"):  # a handler failed for a real chat
                    apologies.append(record.getMessage())

        log = logging.getLogger("bot.channels.telegram")
        handler, level = Collect(level=logging.DEBUG), log.level
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        try:
            yield type(
                "Telegram",
                (),
                {
                    "api": api,
                    "gateway": gateway,
                    "application": application,
                    "errors": errors,
                    "handled": handled,
                    "apologies": apologies,
                    "webhook": webhook,
                },
            )
        finally:
            log.removeHandler(handler)
            log.setLevel(level)
            run(webhook.aclose())
            run(application.shutdown())


def post_update(run, telegram, body: bytes, secret: str | None = SECRET, content_type: str = "application/json"):
    headers = {"content-type": content_type} | ({} if secret is None else {SECRET_HEADER: secret.encode("latin-1")})
    before = len(telegram.handled)
    response = run(telegram.webhook.post("/tg/hook", content=body, headers=headers))
    return response, telegram.handled[before:]


@settings(FUZZ, max_examples=40)
@given(secret=st.one_of(st.none(), HEADER, st.sampled_from([SECRET[:-1], SECRET + " ", SECRET.upper(), " " + SECRET])))
def test_telegram_wrong_or_missing_secret_is_refused(run, telegram, secret):
    if secret == SECRET:
        return
    seen = len(telegram.gateway.seen)
    response, updates = post_update(run, telegram, dumps(telegram.api.text(100, "你好") | {"update_id": 1}), secret)
    assert response.status_code == 403 and updates == [] and len(telegram.gateway.seen) == seen


@st.composite
def mutated_updates(draw) -> dict:
    """A real update shape with some of its values replaced by anything JSON can carry."""
    api = FakeTelegram()  # only its builders are used (no server is started)
    chat = draw(st.integers(-(2**40), 2**40))
    update = draw(
        st.sampled_from(
            [
                api.text(chat, "你好"),
                api.command(chat, "start"),
                api.callback(chat, "b:0123456789"),
                api.photo(chat),
                api.contact(chat, "+86 138 0000 1234", chat),
            ]
        )
    )
    update["update_id"] = draw(st.one_of(st.integers(0, 2**31), JSON))
    body = update.get("message") or update["callback_query"]
    for key in draw(st.lists(st.sampled_from(sorted(body)), max_size=2, unique=True)):
        body[key] = draw(JSON)
    return update


def _button_with_data(data) -> bytes:
    update = FakeTelegram().callback(0, "b:0123456789")
    update["callback_query"]["data"] = data
    return dumps({**update, "update_id": 0})


@settings(FUZZ, max_examples=80)
@given(
    body=st.one_of(RAW_BODY, JSON.map(dumps), mutated_updates().map(dumps)),
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]),
)
@example(body=b"null", content_type="application/json")
@example(body=b"[]", content_type="application/json")
@example(body=b'{"update_id": 1}', content_type="application/json")
@example(body=b'{"update_id": 0, "message": {"message_id": 0, "date": 0}}', content_type="application/json")
@example(body=_button_with_data([None]), content_type="application/json")  # found in CI: a TypeError
@example(
    body=b'{"message": {"message_id": 0, "date": 0, "chat": {"id": 0, "type": "private"}, "text": [null]},'
    b' "update_id": 0}',
    content_type="application/json",
)  # found in CI: a TypeError
def test_telegram_any_body_with_the_right_secret_never_crashes(run, telegram, body, content_type):
    errors, apologies, seen = len(telegram.errors), len(telegram.apologies), len(telegram.gateway.seen)
    response, updates = post_update(run, telegram, body, content_type=content_type)
    no_trace(response)
    assert response.status_code in (200, 400), response.text
    assert response.status_code == 400 or len(updates) == 1
    event(f"status {response.status_code}, reached the gateway: {len(telegram.gateway.seen) > seen}")
    assert telegram.apologies[apologies:] == [], telegram.apologies[apologies:]  # no handler failed
    # PTB itself may fail on an update without a chat (no one to answer); its error handlers take
    # that, and the application goes on answering.
    for update, error in telegram.errors[errors:]:
        assert isinstance(update, Update) and update.effective_chat is None, (update, error)
    if len(telegram.errors) > errors:
        text = telegram.api.text(4242, "还在吗") | {"update_id": next(_ids) % 2**31}
        assert post_update(run, telegram, dumps(text))[0].status_code == 200
        assert telegram.gateway.seen[-1] == ("tg:4242", "还在吗")


@settings(FUZZ, max_examples=50)
@given(text=TEXT.filter(lambda t: len(t) <= 20_000), chat=st.integers(1, 2**40))
@example(text="<script>alert(1)</script>' OR 1=1 --", chat=100)
@example(text="/notacommand \x00", chat=101)
def test_telegram_text_reaches_the_gateway_exactly(run, telegram, text, chat):
    seen = len(telegram.gateway.seen)
    update = telegram.api.text(chat, text) | {"update_id": next(_ids) % 2**31}
    response, _ = post_update(run, telegram, dumps(update))
    assert response.status_code == 200
    if text:  # an empty text is no text message at all
        assert telegram.gateway.seen[seen:] == [(f"tg:{chat}", text)]
        assert telegram.api.messages(chat)[-1]["text"]  # and the citizen got an answer
    else:
        assert len(telegram.gateway.seen) == seen
