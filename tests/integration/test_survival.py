"""Kill -9 survival: each process of the stack - Rasa, the action server, the web app, the Telegram
worker - is killed (SIGKILL to its process group) while citizens are in the middle of a legal-aid
application. Messages that arrive while it is down get a polite "稍后再试" (or, for the Telegram
worker, wait at Telegram and are answered after the restart, once); after the restart each
conversation continues at the question it had reached, and every application submitted before or
after is in the database.

Run alone with ``make survival``. The platforms are the local fakes over real HTTP.
"""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
import xmltodict

from bot.storage.sql import SqlCaseStore, make_engine
from bot.wording import TOO_FAST
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest import platform_fakes, wait_until
from tests.support.stack import Stack
from tests.unit.channels.test_wechat import signed_query, text_xml

pytestmark = pytest.mark.integration
REFERENCE = re.compile(r"LA-\d{8}-\d{4}")
#: The phone question itself (the consent before it names the phone number too).
ASKS_PHONE = "能联系到您的手机号码"
#: The legal-aid form's questions (domain.yml) and a citizen's answers; ``None`` = the citizen's own.
#: The read-back comes first: it repeats the other questions' labels.
ANSWERS = [
    ("信息对吗", "对"),
    ("同意提供这些信息", "同意"),  # names the fields it asks consent for: before them
    ("选择您要办的事项", "1"),
    ("姓名", None),
    ("手机号码", None),
    ("哪个乡镇", "花石镇"),
    ("哪个村", "不知道"),
    ("对方是谁", "某建筑公司"),
    ("事情经过", "在工地干了三个月一分钱没拿到"),
    ("期限", "没有"),
    ("经济情况", "我是低保户，家里困难"),
]


class Citizen:
    """One citizen filling the form on some channel; ``send`` returns the bot's text."""

    def __init__(self, name: str, phone: str) -> None:
        self.name, self.phone = name, phone

    def answer_to(self, question: str) -> str:
        for key, answer in ANSWERS:
            if key in question:
                return answer or (f"我叫{self.name}" if key == "姓名" else self.phone)
        raise AssertionError(f"unexpected question: {question!r}")

    def send(self, text: str) -> str:
        """The bot's reply; a citizen told to slow down (the rate limit) waits and sends again."""
        for _ in range(5):
            reply = self.deliver(text)
            if reply != TOO_FAST:
                return reply
            time.sleep(2.5)
        raise AssertionError("still too fast")

    def deliver(self, text: str) -> str:
        raise NotImplementedError

    def fill(self, reply: str, until: str | None = None) -> str:
        """Answer question after question from ``reply`` until one containing ``until`` (or the reference)."""
        for _ in range(len(ANSWERS) + 2):
            if REFERENCE.search(reply) or (until and until in reply):
                return reply
            reply = self.send(self.answer_to(reply))
        raise AssertionError(f"the form did not end: {reply!r}")


class WebCitizen(Citizen):
    def __init__(self, url: str, name: str, phone: str) -> None:
        super().__init__(name, phone)
        self.url = url
        self.browser = httpx.Client(timeout=90)  # keeps the sender cookie the web app issues

    def post(self, text: str) -> httpx.Response:
        return self.browser.post(f"{self.url}/api/chat", json={"message": text})

    def deliver(self, text: str) -> str:
        response = self.post(text)
        assert response.status_code == 200, response.text
        return "\n".join(m["text"] for m in response.json()["messages"])


class TelegramCitizen(Citizen):
    def __init__(self, api: FakeTelegram, chat_id: int, name: str, phone: str) -> None:
        super().__init__(name, phone)
        self.api, self.chat_id = api, chat_id

    def push(self, text: str) -> int:
        """Send without waiting; returns how many replies this chat had before."""
        before = len(self.api.messages(self.chat_id))
        self.api.push(self.api.text(self.chat_id, text))
        return before

    def replies_after(self, before: int, timeout: float = 90.0) -> str:
        wait_until(lambda: len(self.api.messages(self.chat_id)) > before, timeout, "a Telegram reply")
        time.sleep(1.0)  # a reply can come in several messages
        return "\n".join(m["text"] for m in self.api.messages(self.chat_id)[before:])

    def deliver(self, text: str) -> str:
        return self.replies_after(self.push(text))


class WeChatCitizen:
    def __init__(self, url: str) -> None:
        self.url, self.msg_id = url, 7_000_000_000_000_000_000 + uuid.uuid4().int % 10**12

    def post(self, text: str, msg_id: int) -> httpx.Response:
        return httpx.post(
            f"{self.url}/wechat", params=signed_query(), content=text_xml(text, msg_id).encode(), timeout=60
        )

    def passive(self, response: httpx.Response) -> str:
        response.raise_for_status()
        return "" if response.text == "success" else xmltodict.parse(response.text)["xml"]["Content"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A stack of its own (its processes get killed), with both messaging channels on local fakes."""
    stack = Stack(tmp_path_factory.mktemp("survival"))
    with platform_fakes() as (_, telegram, env):
        try:
            stack.start_all()
            url = stack.start_web(**env)
            stack.start_telegram(**env)
            store = SqlCaseStore(make_engine(stack.env["LEGAL_TRIAGE_DATABASE_URL"]))
            yield stack, url, env, telegram, store, []
        finally:
            stack.stop_all()


def all_kept(store: SqlCaseStore, submitted: list[tuple[str, str]]) -> None:
    for reference, name in submitted:
        found = store.find(reference)
        assert found is not None and found.name == name, reference


def submit(citizen: Citizen, reply: str, submitted: list[tuple[str, str]]) -> None:
    done = citizen.fill(reply)
    submitted.append((REFERENCE.search(done).group(0), citizen.name))


def test_rasa_killed_mid_form(world):
    stack, url, _, telegram, store, submitted = world
    web, tg = WebCitizen(url, "周建华", "13811112222"), TelegramCitizen(telegram, 9001, "吴秀兰", "13933334444")
    asked_phone = [c.fill(c.send("我要申请法律援助"), until=ASKS_PHONE) for c in (web, tg)]

    stack.stop("rasa")  # SIGKILL
    down = web.post(web.phone)
    assert down.status_code == 503 and "稍后再试" in down.json()["messages"][0]["text"]
    assert "稍后再试" in tg.send(tg.phone)
    wechat = WeChatCitizen(url)
    assert "稍后再试" in wechat.passive(wechat.post("欠薪怎么办", wechat.msg_id))

    stack.start_rasa()
    for citizen, question in zip((web, tg), asked_phone):
        assert "手机号码" in question
        reply = citizen.send(citizen.phone)
        assert "哪个乡镇" in reply  # the form goes on from the question it had reached
        submit(citizen, reply, submitted)
    all_kept(store, submitted)


def test_action_server_killed_mid_form(world):
    stack, url, _, telegram, store, submitted = world
    web, tg = WebCitizen(url, "郑国强", "13855556666"), TelegramCitizen(telegram, 9002, "冯桂英", "13977778888")
    for citizen in (web, tg):
        citizen.fill(citizen.send("我要申请法律援助"), until=ASKS_PHONE)

    stack.stop("actions")
    assert "稍后再试" in web.send(web.phone)
    assert "稍后再试" in tg.send(tg.phone)

    stack.start_actions()
    for citizen in (web, tg):
        reply = citizen.send(citizen.phone)
        assert "哪个乡镇" in reply
        submit(citizen, reply, submitted)
    all_kept(store, submitted)


def test_web_app_killed_mid_form(world):
    stack, url, env, _, store, submitted = world
    web = WebCitizen(url, "陈淑芬", "13822223333")
    web.fill(web.send("我要申请法律援助"), until="哪个乡镇")
    wechat = WeChatCitizen(url)

    stack.stop("web")
    with pytest.raises(httpx.ConnectError):  # the chat page keeps the message and retries (chat.html)
        web.post("花石镇")
    with pytest.raises(httpx.ConnectError):  # WeChat retries a message it got no answer to
        wechat.post("离婚孩子归谁", wechat.msg_id)

    stack.start_web(port=int(url.rsplit(":", 1)[1]), **env)
    reply = web.send("花石镇")
    assert "哪个村" in reply or "对方是谁" in reply
    submit(web, reply, submitted)
    # WeChat's retry is answered now, and its next retry of the same MsgId only gets "success"
    assert wechat.passive(wechat.post("离婚孩子归谁", wechat.msg_id))
    assert wechat.post("离婚孩子归谁", wechat.msg_id).text == "success"
    all_kept(store, submitted)


def test_telegram_worker_killed_mid_form(world):
    stack, _, env, telegram, store, submitted = world
    tg = TelegramCitizen(telegram, 9003, "杨志明", "13844445555")
    tg.fill(tg.send("我要申请法律援助"), until=ASKS_PHONE)

    stack.stop("telegram")
    before = tg.push(tg.phone)  # waits at Telegram while the worker is down
    time.sleep(2)
    assert len(telegram.messages(tg.chat_id)) == before

    stack.start_telegram(**env)
    reply = tg.replies_after(before)
    assert "哪个乡镇" in reply and reply.count("哪个乡镇") == 1  # answered after the restart, once
    submit(tg, reply, submitted)
    all_kept(store, submitted)
