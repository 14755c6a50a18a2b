"""The WeChat channel, driven the way WeChat drives it: signed (and encrypted) XML over HTTP.

The router runs in a small FastAPI app behind httpx's ASGI transport; the customer-service API is
the local fake in ``tests/fakes/wechat_api.py`` (real HTTP on 127.0.0.1).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import re
import socket
import time

import httpx
import pytest
import xmltodict
from cachetools import TTLCache
from fastapi import FastAPI
from wechatpy.crypto import WeChatCrypto

from bot.channels.wechat import (
    BAD_REQUEST,
    MAX_TEXT_BYTES,
    SUCCESS,
    WeChatSender,
    first_time,
    render,
    wechat_router,
)
from bot.rasa_client import BotMessage, Button, RasaUnavailable
from bot.services.outbound import DeliveryError
from bot.settings import Settings
from bot.storage.memory import InMemoryCaseStore
from bot.wording import TRY_LATER, VOICE_NOT_RECOGNISED, WECHAT_TEXT_ONLY
from tests.fakes.gateway import FakeGateway
from tests.fakes.wechat_api import FakeWeChatApi

TOKEN = "county-bureau-token"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # an EncodingAESKey: 43 characters
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
SENDER = f"wx:{OPENID}"
ACCOUNT = "gh_0123456789ab"
_ids = itertools.count(6_000_000_000_000_000_001)
_nonces = itertools.count(100_000)


# -- builders ----------------------------------------------------------------------------------


def sha1_signature(*parts: str) -> str:
    """As WeChat signs: sort the strings, concatenate, SHA-1."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signed_query(token: str = TOKEN, age: int = 0) -> dict[str, str]:
    """A URL as WeChat signs it, with a fresh nonce and a timestamp ``age`` seconds old."""
    timestamp, nonce = str(int(time.time()) - age), str(next(_nonces))
    return {
        "signature": sha1_signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": OPENID,
    }


def message_xml(
    msg_type: str,
    fields: dict[str, str] | None = None,
    msg_id: int | None = None,
    create_time: int | None = None,
    openid: str = OPENID,
) -> str:
    fields = dict(fields or {})
    if msg_type != "event":
        fields.setdefault("MsgId", str(msg_id or next(_ids)))
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{body}</xml>"
    )


def text_xml(content: str, msg_id: int | None = None) -> str:
    return message_xml("text", {"Content": content}, msg_id)


def event_xml(event: str, key: str | None = None, create_time: int | None = None) -> str:
    fields = {"Event": event} if key is None else {"Event": event, "EventKey": key}
    return message_xml("event", fields, create_time=create_time)


class WeChatServer:
    """The router mounted in an app, and WeChat's side of the conversation with it."""

    def __init__(
        self,
        gateway: FakeGateway,
        api: FakeWeChatApi,
        *,
        reply_timeout: float = 3.0,
        aes: bool = False,
        deliveries=None,
    ) -> None:
        self.settings = Settings(
            wechat_token=TOKEN,
            wechat_app_id=api.app_id,
            wechat_app_secret=api.app_secret,
            wechat_aes_key=AES_KEY if aes else "",
            wechat_api_base_url=api.url,
        )
        app = FastAPI()
        app.include_router(wechat_router(self.settings, gateway, reply_timeout=reply_timeout, deliveries=deliveries))
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bureau.test")
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, api.app_id)

    async def post(self, xml: str, *, query: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post("/wechat", params=query or signed_query(), content=xml.encode("utf-8"))

    async def post_encrypted(self, xml: str, *, forge: bool = False) -> tuple[httpx.Response, dict[str, str]]:
        query = signed_query()
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))["xml"]
        query |= {"encrypt_type": "aes", "msg_signature": "0" * 40 if forge else envelope["MsgSignature"]}
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
        )
        return await self.client.post("/wechat", params=query, content=body.encode()), query

    def decrypt(self, response: httpx.Response) -> dict[str, str]:
        envelope = xmltodict.parse(response.text)["xml"]
        inner = self.crypto.decrypt_message(
            response.text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
        )
        return xmltodict.parse(inner)["xml"]


def reply_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return xmltodict.parse(response.text)["xml"]


def content_of(response: httpx.Response) -> str:
    return reply_of(response)["Content"]


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wechat_api_server():
    with FakeWeChatApi() as fake:
        yield fake


@pytest.fixture
def api(wechat_api_server):
    wechat_api_server.reset()
    return wechat_api_server


@pytest.fixture
async def server_for(api):
    servers: list[WeChatServer] = []

    def make(gateway: FakeGateway, **kwargs) -> WeChatServer:
        servers.append(WeChatServer(gateway, api, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        await server.client.aclose()


@pytest.fixture
def wechat_log():
    """What the channel logs (a handler of its own: other tests may stop propagation to the root)."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    log = logging.getLogger("bot.channels.wechat")
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield records
    log.removeHandler(handler)
    log.setLevel(old_level)


# -- server check (GET) --------------------------------------------------------------------------


async def test_get_returns_the_echo_string_when_signed(server_for):
    server = server_for(FakeGateway())
    response = await server.client.get("/wechat", params=signed_query() | {"echostr": "8731925467301"})
    assert response.status_code == 200
    assert response.text == "8731925467301"
    assert response.headers["content-type"].startswith("text/plain")


async def test_get_with_a_forged_signature_is_refused(server_for):
    server = server_for(FakeGateway())
    forged = signed_query(token="not-our-token") | {"echostr": "42"}
    response = await server.client.get("/wechat", params=forged)
    assert response.status_code == 403
    assert "42" not in response.text and "签名" in response.text


async def test_get_without_parameters_is_a_bad_request(server_for):
    server = server_for(FakeGateway())
    query = signed_query()
    del query["nonce"]
    assert (await server.client.get("/wechat", params=query | {"echostr": "1"})).status_code == 400
    assert (await server.client.get("/wechat")).status_code == 400


# -- messages (POST) -----------------------------------------------------------------------------


async def test_text_goes_through_the_gateway_and_the_reply_is_passive(server_for):
    gateway = FakeGateway({"老板拖欠工资怎么办": [BotMessage("可以先与单位协商，协商不成可申请劳动仲裁。")]})
    server = server_for(gateway)
    reply = reply_of(await server.post(text_xml("老板拖欠工资怎么办")))
    assert gateway.calls == [(SENDER, "老板拖欠工资怎么办")]
    assert gateway.addresses == ["127.0.0.1"]  # where it came from, for the gateway's limit per address
    assert reply["MsgType"] == "text"
    assert reply["Content"] == "可以先与单位协商，协商不成可申请劳动仲裁。"
    assert reply["ToUserName"] == OPENID and reply["FromUserName"] == ACCOUNT


async def test_safe_mode_message_is_decrypted_and_the_reply_encrypted(server_for):
    gateway = FakeGateway({"离婚冷静期多久": [BotMessage("离婚冷静期为三十日。")]})
    server = server_for(gateway, aes=True)
    response, _ = await server.post_encrypted(text_xml("离婚冷静期多久"))
    assert response.status_code == 200
    assert "离婚" not in response.text  # nothing readable on the wire
    reply = server.decrypt(response)
    assert gateway.calls == [(SENDER, "离婚冷静期多久")]
    assert reply["Content"] == "离婚冷静期为三十日。"
    assert reply["ToUserName"] == OPENID


async def test_safe_mode_with_a_forged_message_signature_is_refused(server_for):
    gateway = FakeGateway()
    server = server_for(gateway, aes=True)
    response, _ = await server.post_encrypted(text_xml("你好"), forge=True)
    assert response.status_code == 403
    assert gateway.calls == []


async def test_post_with_a_forged_signature_is_refused(server_for):
    gateway = FakeGateway()
    server = server_for(gateway)
    response = await server.post(text_xml("你好"), query=signed_query(token="guessed"))
    assert response.status_code == 403
    assert gateway.calls == []


async def test_a_captured_url_replayed_with_another_body_is_refused(server_for):
    """The URL signature covers token, timestamp and nonce only: its second use, with a body naming
    another openid, must not reach the bot."""
    gateway = FakeGateway()
    server = server_for(gateway)
    captured = signed_query()
    assert content_of(await server.post(text_xml("你好"), query=captured)) == "收到：你好"
    forged = message_xml("text", {"Content": "转人工"}, openid="oSomeoneElse000000000000000")
    replay = await server.post(forged, query=captured)
    assert replay.status_code == 200 and replay.text == SUCCESS
    assert gateway.calls == [(SENDER, "你好")]


@pytest.mark.parametrize("age", [301, -301, 86_400])
async def test_a_stale_or_future_timestamp_is_refused(server_for, age):
    gateway = FakeGateway()
    server = server_for(gateway)
    response = await server.post(text_xml("你好"), query=signed_query(age=age))
    assert response.status_code == 403 and gateway.calls == []
    assert content_of(await server.post(text_xml("你好"), query=signed_query(age=age // 2 if age < 1000 else 0)))


@pytest.mark.parametrize("encrypt_type", [None, "raw"])
async def test_plaintext_is_refused_when_an_aes_key_is_set(server_for, encrypt_type):
    gateway = FakeGateway()
    server = server_for(gateway, aes=True)
    query = signed_query() | ({"encrypt_type": encrypt_type} if encrypt_type else {})
    response = await server.post(text_xml("转人工"), query=query)
    assert response.status_code == 403 and gateway.calls == []
    ok, _ = await server.post_encrypted(text_xml("你好"))  # the encrypted flow still works
    assert server.decrypt(ok)["Content"] == "收到：你好"


async def test_post_with_a_body_that_is_not_wechat_xml_is_a_bad_request(server_for):
    gateway = FakeGateway()
    server = server_for(gateway)
    for body in ("not xml at all", "<xml><Content>no type</Content></xml>"):
        response = await server.post(body)
        assert response.status_code == 400
        assert "Traceback" not in response.text
    assert gateway.calls == []


@pytest.mark.parametrize("field", ["FromUserName", "ToUserName"])
async def test_a_message_with_a_malformed_account_or_openid_is_refused(server_for, field):
    """Both are echoed into the reply's XML: "]]>" in one would end its CDATA section there."""
    gateway = FakeGateway()
    server = server_for(gateway)
    xml = text_xml("你好").replace(OPENID if field == "FromUserName" else ACCOUNT, "]]><Content>x</Content>")
    for body in (xml, re.sub(f"<{field}>.*?</{field}>", "", xml)):
        response = await server.post(body)
        assert response.status_code == 400 and response.text == BAD_REQUEST
    assert gateway.calls == []


async def test_voice_uses_the_recognised_text(server_for):
    gateway = FakeGateway()
    server = server_for(gateway)
    xml = message_xml("voice", {"MediaId": "m1", "Format": "amr", "Recognition": "我想申请法律援助。"})
    assert content_of(await server.post(xml)) == "收到：我想申请法律援助。"
    assert gateway.texts == ["我想申请法律援助。"]


async def test_voice_without_recognition_asks_to_type(server_for):
    gateway = FakeGateway()
    server = server_for(gateway)
    xml = message_xml("voice", {"MediaId": "m1", "Format": "amr"})
    assert content_of(await server.post(xml)) == VOICE_NOT_RECOGNISED
    assert gateway.calls == []


@pytest.mark.parametrize(
    "msg_type, fields",
    [
        ("image", {"PicUrl": "http://mmbiz.example/pic", "MediaId": "m2"}),
        ("video", {"MediaId": "m3", "ThumbMediaId": "t3"}),
        ("location", {"Location_X": "27.86", "Location_Y": "112.91", "Scale": "15", "Label": "湘潭县"}),
        ("link", {"Title": "文章", "Description": "说明", "Url": "http://example.com/a"}),
    ],
)
async def test_media_gets_a_polite_answer_about_what_the_bot_can_take(server_for, msg_type, fields):
    gateway = FakeGateway()
    server = server_for(gateway)
    content = content_of(await server.post(message_xml(msg_type, fields)))
    assert content == WECHAT_TEXT_ONLY
    assert "文字" in content and "法律援助" in content
    assert gateway.calls == []


async def test_subscribe_is_welcomed_by_the_bot(server_for):
    gateway = FakeGateway({"你好": [BotMessage("您好，我是县司法局的法律咨询助手。")]})
    server = server_for(gateway)
    assert content_of(await server.post(event_xml("subscribe"))) == "您好，我是县司法局的法律咨询助手。"
    assert gateway.calls == [(SENDER, "你好")]


async def test_unsubscribe_is_acknowledged_with_success(server_for):
    gateway = FakeGateway()
    server = server_for(gateway)
    response = await server.post(event_xml("unsubscribe"))
    assert response.status_code == 200 and response.text == SUCCESS
    assert gateway.calls == []


@pytest.mark.parametrize(
    "key, text",
    [
        ("LEGAL_AID", "我要申请法律援助"),
        ("MEDIATION", "我要预约调解"),
        ("HUMAN", "转人工"),
        ("SOMETHING_NEW", "你好"),
    ],
)
async def test_menu_click_sends_the_key_text(server_for, key, text):
    gateway = FakeGateway()
    server = server_for(gateway)
    assert content_of(await server.post(event_xml("CLICK", key))) == f"收到：{text}"
    assert gateway.calls == [(SENDER, text)]


async def test_buttons_become_numbered_options_and_a_digit_picks_one(server_for):
    gateway = FakeGateway(
        {
            "你好": [
                BotMessage(
                    "您好！请问需要什么帮助？",
                    (
                        Button("申请法律援助", "/apply_legal_aid"),
                        Button("预约人民调解", "/book_mediation"),
                        Button("转人工", "/request_human"),
                    ),
                )
            ],
        }
    )
    server = server_for(gateway)
    content = content_of(await server.post(text_xml("你好")))
    assert content == ("您好！请问需要什么帮助？\n回复数字选择：\n1. 申请法律援助\n2. 预约人民调解\n3. 转人工")
    await server.post(text_xml("2"))
    assert gateway.texts[-1] == "/book_mediation"
    # the reply to the choice had no buttons: a number is now just a number
    await server.post(text_xml("2"))
    assert gateway.texts[-1] == "2"


async def test_a_number_outside_the_options_is_sent_as_typed(server_for):
    gateway = FakeGateway({"你好": [BotMessage("请选择", (Button("是", "/affirm"), Button("否", "/deny")))]})
    server = server_for(gateway)
    await server.post(text_xml("你好"))
    await server.post(text_xml("7"))
    assert gateway.texts == ["你好", "7"]


async def test_a_duplicate_msgid_is_answered_with_success_and_handled_once(server_for):
    gateway = FakeGateway()
    server = server_for(gateway)
    xml = text_xml("合同纠纷怎么处理", msg_id=6_100_000_000_000_000_001)
    first = await server.post(xml)
    retry = await server.post(xml)
    assert content_of(first) == "收到：合同纠纷怎么处理"
    assert retry.text == SUCCESS
    assert len(gateway.calls) == 1


async def test_a_msgid_answered_before_a_restart_is_not_answered_again(server_for):
    deliveries, gateway = InMemoryCaseStore(), FakeGateway()
    xml = text_xml("合同纠纷怎么处理", msg_id=6_100_000_000_000_000_002)
    assert content_of(await server_for(gateway, deliveries=deliveries).post(xml)) == "收到：合同纠纷怎么处理"
    restarted = server_for(gateway, deliveries=deliveries)  # a new process: its memory is empty
    assert (await restarted.post(xml)).text == SUCCESS
    assert (
        content_of(await restarted.post(text_xml("还有一个问题", msg_id=6_100_000_000_000_000_003)))
        == "收到：还有一个问题"
    )
    assert gateway.texts == ["合同纠纷怎么处理", "还有一个问题"]


async def test_a_repeated_event_is_handled_once(server_for):
    gateway = FakeGateway()
    server = server_for(gateway)
    xml = event_xml("CLICK", "LEGAL_AID", create_time=1_700_000_000)
    await server.post(xml)
    assert (await server.post(xml)).text == SUCCESS
    assert gateway.texts == ["我要申请法律援助"]


async def test_a_slow_bot_gets_success_at_once_and_the_reply_later(server_for, api):
    gateway = FakeGateway({"工伤怎么认定": [BotMessage("工伤认定应向社会保险行政部门提出申请。")]}, delay=1.0)
    server = server_for(gateway, reply_timeout=0.2)
    response = await server.post(text_xml("工伤怎么认定"))
    assert response.text == SUCCESS
    assert gateway.finished == 0  # answered before the bot was done
    assert await api.wait_for_texts(1) == ["工伤认定应向社会保险行政部门提出申请。"]
    assert api.sent[0]["touser"] == OPENID
    assert "工伤".encode() in api.raw_bodies[0]  # UTF-8 as is, not \\u escapes
    assert len(gateway.calls) == 1


async def test_a_late_reply_remembers_its_options(server_for, api):
    gateway = FakeGateway({"你好": [BotMessage("请选择", (Button("申请法律援助", "/apply_legal_aid"),))]}, delay=0.5)
    server = server_for(gateway, reply_timeout=0.1)
    assert (await server.post(text_xml("你好"))).text == SUCCESS
    assert (await api.wait_for_texts(1))[0].endswith("1. 申请法律援助")
    gateway.delay = 0
    await server.post(text_xml("1"))
    assert gateway.texts[-1] == "/apply_legal_aid"


async def test_bot_down_after_the_timeout_sends_try_later(server_for, api):
    gateway = FakeGateway(delay=0.5, error=RasaUnavailable("ConnectError"))
    server = server_for(gateway, reply_timeout=0.1)
    assert (await server.post(text_xml("你好"))).text == SUCCESS
    assert await api.wait_for_texts(1) == [TRY_LATER]


async def test_several_messages_become_one_reply_and_the_rest_goes_by_customer_service(server_for, api):
    long_parts = [BotMessage(c * 400) for c in "甲乙丙"]  # 1,200 bytes each
    gateway = FakeGateway({"很长": [BotMessage("第一段"), BotMessage("第二段"), *long_parts]})
    server = server_for(gateway)
    passive = content_of(await server.post(text_xml("很长")))
    assert passive.startswith("第一段\n\n第二段\n\n甲甲")
    assert len(passive.encode()) <= MAX_TEXT_BYTES
    later = await api.wait_for_texts(2)
    assert later == ["乙" * 400, "丙" * 400]


async def test_rasa_unavailable_answers_try_later(server_for):
    server = server_for(FakeGateway(error=RasaUnavailable("ConnectError")))
    assert content_of(await server.post(text_xml("你好"))) == TRY_LATER


async def test_an_unexpected_error_never_reaches_wechat_or_the_log(server_for, wechat_log):
    server = server_for(FakeGateway(error=ValueError("张三 13800138000 Traceback")))
    response = await server.post(text_xml("我叫张三，电话13800138000"))
    assert content_of(response) == TRY_LATER
    log = "\n".join(wechat_log)
    assert "ValueError" in log
    for secret in ("张三", "13800138000", OPENID, "Traceback"):
        assert secret not in log


async def test_logs_carry_no_text_and_no_openid(server_for, wechat_log):
    server = server_for(FakeGateway())
    await server.post(text_xml("我叫李四，电话13912345678，被打了"))
    await server.post(message_xml("voice", {"MediaId": "m", "Format": "amr", "Recognition": "李四要离婚"}))
    log = "\n".join(wechat_log)
    assert "wechat_in" in log and "wx:" in log
    for secret in ("李四", "13912345678", OPENID, "离婚", "被打"):
        assert secret not in log


async def test_a_reply_containing_cdata_end_stays_valid_xml(server_for):
    server = server_for(FakeGateway({"x": [BotMessage("a]]>b<c>&d")]}))
    assert content_of(await server.post(text_xml("x"))) == "a]]>b<c>&d"


def test_the_router_needs_a_token_and_a_valid_aes_key():
    with pytest.raises(ValueError, match="WECHAT_TOKEN"):
        wechat_router(Settings(wechat_token=""), FakeGateway())
    with pytest.raises(ValueError, match="WECHAT_AES_KEY"):
        wechat_router(Settings(wechat_token=TOKEN, wechat_app_id="wx1", wechat_aes_key="short"), FakeGateway())


# -- the customer-service sender -----------------------------------------------------------------


async def test_sender_caches_the_access_token(api):
    sender = WeChatSender(api.app_id, api.app_secret, api.url)
    await sender.send(SENDER, [BotMessage("第一条")])
    await sender.send(SENDER, [BotMessage("第二条")])
    assert api.token_calls == 1
    assert api.texts(OPENID) == ["第一条", "第二条"]


async def test_senders_of_one_app_share_the_token(api):
    await WeChatSender(api.app_id, api.app_secret, api.url).send(SENDER, [BotMessage("一")])
    await WeChatSender(api.app_id, api.app_secret, api.url).send(SENDER, [BotMessage("二")])
    assert api.token_calls == 1


async def test_sender_refreshes_the_token_after_40001_and_retries_once(api):
    sender = WeChatSender(api.app_id, api.app_secret, api.url)
    await sender.send(SENDER, [BotMessage("第一条")])
    api.expire_token()
    await sender.send(SENDER, [BotMessage("第二条")])
    assert api.rejected == [40001]
    assert api.token_calls == 2
    assert api.texts(OPENID) == ["第一条", "第二条"]


async def test_sender_renders_buttons_as_numbered_options(api):
    sender = WeChatSender(api.app_id, api.app_secret, api.url)
    await sender.send(SENDER, [BotMessage("您的案件已受理。", (Button("查看进度", "/status"),))])
    assert api.texts() == ["您的案件已受理。\n回复数字选择：\n1. 查看进度"]


async def test_sender_raises_delivery_error_when_wechat_refuses(api):
    api.refuse_sends(45015)
    with pytest.raises(DeliveryError, match="45015"):
        await WeChatSender(api.app_id, api.app_secret, api.url).send(SENDER, [BotMessage("你好")])


async def test_sender_raises_delivery_error_on_bad_credentials_or_no_network(api):
    with pytest.raises(DeliveryError, match="40125"):
        await WeChatSender(api.app_id, "wrong-secret", api.url).send(SENDER, [BotMessage("你好")])
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(DeliveryError, match="unreachable"):
        await WeChatSender("wxother", "s", f"http://127.0.0.1:{closed_port}/cgi-bin/", timeout=2).send(
            SENDER, [BotMessage("你好")]
        )
    with pytest.raises(DeliveryError):
        await WeChatSender(api.app_id, api.app_secret, api.url).send("tg:123", [BotMessage("你好")])


# -- rendering and memory ------------------------------------------------------------------------


def test_render_numbers_options_across_messages_and_packs_within_the_limit():
    texts, payloads = render([BotMessage("甲", (Button("一", "/one"),)), BotMessage("", (Button("二", ""),))])
    assert texts == ["甲\n回复数字选择：\n1. 一\n\n回复数字选择：\n2. 二"]
    assert payloads == ["/one", "二"]  # a button without a payload stands for its title
    one_long_line = "法" * 1500  # 4,500 bytes, no line breaks
    texts, _ = render([BotMessage(one_long_line)])
    assert all(len(t.encode()) <= MAX_TEXT_BYTES for t in texts)
    assert "".join(texts) == one_long_line
    assert render([BotMessage("")]) == ([], [])


def test_a_repeat_is_known_until_it_expires():
    now = [0.0]
    memory = TTLCache(maxsize=3, ttl=10, timer=lambda: now[0])
    assert first_time(memory, "a") and not first_time(memory, "a")
    now[0] = 11
    assert first_time(memory, "a")  # expired: WeChat would not retry this late


def test_the_actions_numbered_options_are_numbered_once_across_a_turn():
    """The "您是想问" options come numbered from the action; WeChat numbers on across the turn's
    messages, so the handoff offers after them are 4 and 5 and no line reads "1. 1. …"."""
    from actions.answers import HANDOFF_OFFERS, offer_buttons
    from actions.base import option_buttons

    def message(text, buttons):
        return BotMessage(text, tuple(Button(b["title"], b["payload"]) for b in buttons))

    options = option_buttons(["离婚后孩子抚养权归谁", "抚养费怎么算", "探望权怎么约定"])
    texts, payloads = render([message("您是想问：", options), message("都不是？", offer_buttons(HANDOFF_OFFERS))])
    lines = "\n".join(texts).splitlines()
    assert "1. 离婚后孩子抚养权归谁" in lines and "3. 探望权怎么约定" in lines
    assert not [line for line in lines if re.match(r"^\d+\. \d+\.", line)]
    assert [line.split(". ", 1)[0] for line in lines if re.match(r"^\d+\. ", line)] == ["1", "2", "3", "4", "5"]
    assert payloads[:3] == [b["payload"] for b in options]
