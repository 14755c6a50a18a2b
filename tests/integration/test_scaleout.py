"""Scale-out on real engines (docs/scale-out.md): two Rasa servers and two action servers behind
nginx (Rasa servers in turn, so one conversation's messages land on both), PostgreSQL as the
tracker and record store, Redis as Rasa's lock store.

Two dozen citizens talk at once through nginx's REST webhook. Each greets the bot, asks a legal
question and, right behind it, says they want to apply for legal aid (sent before the answer
to the question arrives, so two Rasa servers hold the same conversation at the same moment),
then fills in and submits the application with their own name and phone; some ask a question in
the middle of the form. Then:
every message was answered; every instance served; each conversation's tracker, read back through
nginx, is exactly what its citizen saw, in order, with nobody else's data; and every application
is in PostgreSQL exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from tests.support.scaleout import ScaleOut, ServiceUnavailable, find_nginx
from tests.support.stack import RASA_TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CONVERSATIONS = 24
REFERENCE = re.compile(r"LA-\d{8}-\d{4}")

# Two of the names are ones the NLU model cuts short from "我叫…" (周卫东 → 周, 刘桂兰 → 桂兰); the form
# then takes the whole message (actions/forms.py), so they must be stored whole.
NAMES = [
    "王建国",
    "李秀英",
    "张志强",
    "刘桂兰",
    "陈海燕",
    "杨德明",
    "黄春梅",
    "赵国平",
    "吴玉珍",
    "周卫东",
    "徐小红",
    "孙永福",
    "马凤英",
    "朱建华",
    "胡淑芬",
    "郭长生",
    "何冬梅",
    "高金山",
    "林翠花",
    "罗志明",
    "郑文斌",
    "梁大勇",
    "谢巧云",
    "宋振华",
]
QUESTIONS = ["离婚冷静期是哪条规定的", "老板拖欠我三个月工资不给怎么办", "劳动仲裁的时效是多久", "借钱不还可以起诉吗"]
TOWNS = ["花石镇", "易俗河镇", "射埠镇", "中路铺镇", "石鼓镇", "排头乡"]
OPPONENTS = ["某建筑公司的包工头", "以前打工的饭店老板", "县里一家物流公司"]
FACTS = ["在工地干了三个月一分钱没拿到", "干了半年，老板说没钱，工资一直拖着不给", "被辞退了，补偿金一分没给"]
ECONOMIC = ["我是低保户，家里困难", "一个月收入不到两千，还要养两个孩子", "没有工作，靠种田过日子"]
MIDWAY_QUESTION = "劳动仲裁的时效是多久"


@dataclass
class Turn:
    text: str
    trace: str  # X-Trace header: nginx logs it, so each message's Rasa server is known
    status: int | str | None = None
    replies: list[dict] = field(default_factory=list)
    sent: float = 0.0
    answered: float = 0.0

    @property
    def bot_texts(self) -> list[str | None]:
        return [r.get("text") for r in self.replies]


@dataclass
class Citizen:
    index: int
    sender: str
    name: str
    phone: str
    question: str
    town: str
    opponent: str
    facts: str
    economic: str
    gap: float  # seconds between the two messages sent together
    asks_midway: bool
    turns: list[Turn] = field(default_factory=list)
    units: list[list[Turn]] = field(default_factory=list)  # what was sent together (1 or 2 turns)
    reference: str | None = None
    error: str | None = None

    @property
    def masked_phone(self) -> str:
        return self.phone[:3] + "****" + self.phone[-4:]

    def markers(self) -> list[str]:
        """Text only this citizen's conversation may contain."""
        return [self.name, self.phone, self.masked_phone]


def make_citizens() -> list[Citizen]:
    citizens = []
    for i in range(CONVERSATIONS):
        citizens.append(
            Citizen(
                index=i,
                sender=f"web:{uuid.uuid4()}",
                name=NAMES[i],
                phone=f"139{i + 1:02d}{(i + 1) * 7919 % 1_000_000:06d}",
                question=QUESTIONS[i % len(QUESTIONS)],
                town=TOWNS[i % len(TOWNS)],
                opponent=OPPONENTS[i % len(OPPONENTS)],
                facts=FACTS[i % len(FACTS)],
                economic=ECONOMIC[i % len(ECONOMIC)],
                # short enough that the second is sent before the first is answered, however fast the bot is
                gap=0.02 + 0.02 * (i % 5),
                asks_midway=i % 3 == 0,
            )
        )
    markers = [m for c in citizens for m in c.markers()]
    assert len(set(markers)) == len(markers) and not any(a in b for a in markers for b in markers if a != b)
    return citizens


# What the bot's last message asks → what the citizen answers (first match wins; the read-back
# repeats every field, so it comes before them).
PROMPTS = [
    ("请核对", lambda c: "对"),
    ("同意提供这些信息", lambda c: "同意"),  # the consent names the fields: it comes before them
    ("选择您要办的事项", lambda c: "1"),
    ("姓名", lambda c: f"我叫{c.name}"),
    ("手机号码", lambda c: c.phone),
    ("乡镇", lambda c: c.town),
    ("哪个村", lambda c: "不知道"),
    ("对方是谁", lambda c: c.opponent),
    ("事情经过", lambda c: c.facts),
    ("期限", lambda c: "没有"),
    ("经济情况", lambda c: c.economic),
]


async def send(client: httpx.AsyncClient, citizen: Citizen, turn: Turn) -> None:
    turn.sent = time.monotonic()
    try:
        response = await client.post(
            "/webhooks/rest/webhook",
            json={"sender": citizen.sender, "message": turn.text},
            headers={"X-Trace": turn.trace},
        )
        turn.status = response.status_code
        turn.replies = response.json() if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError) as exc:
        turn.status = repr(exc)
    turn.answered = time.monotonic()


async def send_together(client: httpx.AsyncClient, citizen: Citizen, *texts: str) -> list[Turn]:
    """Send the texts a short gap apart, each without waiting for the reply to the one before."""
    unit = [Turn(text, f"c{citizen.index:02d}t{len(citizen.turns) + k:02d}") for k, text in enumerate(texts)]
    citizen.turns += unit
    citizen.units.append(unit)
    tasks = []
    for k, turn in enumerate(unit):
        if k:
            await asyncio.sleep(citizen.gap)
        tasks.append(asyncio.create_task(send(client, citizen, turn)))
    await asyncio.gather(*tasks)
    for turn in unit:
        if turn.status != 200 or not any(turn.bot_texts):
            raise RuntimeError(f"{turn.text!r} got {turn.status} {turn.replies}")
    return unit


def last_text(turn: Turn) -> str:
    return next((t for t in reversed(turn.bot_texts) if t), "")


def next_prompt(unit: list[Turn]) -> str:
    """The question the bot asked last. Of two messages sent together, the one answered last was
    normally handled last; either way one of them ends with the form's question."""
    latest_first = sorted(unit, key=lambda t: t.answered, reverse=True)
    asking = [last_text(t) for t in latest_first if any(key in last_text(t) for key, _ in PROMPTS)]
    return asking[0] if asking else last_text(latest_first[0])


async def converse(client: httpx.AsyncClient, citizen: Citizen) -> None:
    await asyncio.sleep(0.15 * citizen.index)  # citizens arrive over a few seconds
    try:
        await send_together(client, citizen, "你好")
        # The question and, right behind it, the wish to apply: the second is normally sent while
        # the first is still being answered. Either order leads to the form's first question.
        unit = await send_together(client, citizen, citizen.question, "我要申请法律援助")
        asked_midway = False
        for _ in range(25):
            if match := REFERENCE.search("\n".join(t or "" for turn in unit for t in turn.bot_texts)):
                citizen.reference = match.group(0)
                return
            last = next_prompt(unit)
            answer = next((reply(citizen) for key, reply in PROMPTS if key in last), None)
            if answer is None:
                raise RuntimeError(f"unexpected bot message {last!r}")
            if citizen.asks_midway and not asked_midway and answer == citizen.phone:
                asked_midway = True
                answer = MIDWAY_QUESTION  # a question in the middle of the form; it asks for the phone again
            unit = await send_together(client, citizen, answer)
        raise RuntimeError("the form did not finish")
    except Exception as exc:  # noqa: BLE001 - recorded; the tests report it with the end of the conversation
        tail = [(t.text, t.bot_texts) for t in citizen.turns[-4:]]
        citizen.error = f"{type(exc).__name__}: {exc}; last messages: {tail}"


def tracker_url(base: str, sender: str) -> httpx.URL:
    url = httpx.URL(f"{base}/conversations/{sender}/tracker", params={"token": RASA_TOKEN})
    assert ":" in url.raw_path.decode().split("/")[2], url  # "web:UUID" must reach Rasa unencoded
    return url


async def fetch_trackers(base: str, citizens: list[Citizen]) -> dict[str, dict]:
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(*(client.get(tracker_url(base, c.sender)) for c in citizens))
    return {c.sender: r.raise_for_status().json() for c, r in zip(citizens, responses)}


async def talk(base: str, citizens: list[Citizen]) -> None:
    limits = httpx.Limits(max_connections=4 * CONVERSATIONS, max_keepalive_connections=2 * CONVERSATIONS)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(180, connect=10), limits=limits) as client:
        await asyncio.gather(*(converse(client, c) for c in citizens))


@pytest.fixture(scope="module")
def scaleout(tmp_path_factory):
    skip = os.environ.get("LEGAL_TRIAGE_SKIP_SERVICES") == "1"

    def missing(message: str):
        if skip:
            pytest.skip(f"{message} (LEGAL_TRIAGE_SKIP_SERVICES=1)")
        pytest.fail(
            f"{message}; the scale-out test is required (set LEGAL_TRIAGE_SKIP_SERVICES=1 only on "
            "machines without PostgreSQL, Redis and nginx)",
            pytrace=False,
        )

    base = os.environ.get("LEGAL_TRIAGE_TEST_POSTGRES_URL")
    if not base:
        missing("LEGAL_TRIAGE_TEST_POSTGRES_URL is not set")
    if not find_nginx():
        missing("nginx is not installed (`make nginx` installs Debian's nginx-light)")
    stack = ScaleOut(tmp_path_factory.mktemp("scaleout"), postgres_url=base)
    try:
        try:
            stack.start_times = stack.start_all()
        except ServiceUnavailable as exc:
            missing(str(exc))
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="module")
def citizens(scaleout) -> list[Citizen]:
    citizens = make_citizens()
    began = time.monotonic()
    asyncio.run(talk(scaleout.rasa_url, citizens))
    took = time.monotonic() - began
    turns = [t for c in citizens for t in c.turns]
    latencies = sorted(t.answered - t.sent for t in turns)
    (scaleout.tmp / "conversations.json").write_text(
        json.dumps(  # for a post-mortem, beside the logs
            [{"sender": c.sender, "error": c.error, "turns": [t.__dict__ for t in c.turns]} for c in citizens],
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    rasa = Counter(e["upstream"] for e in scaleout.access_log("rasa") if e["route"] == "webhook")
    actions = Counter(e["upstream"] for e in scaleout.access_log("actions") if e["route"] == "action")
    print(
        f"\nstart-up {json.dumps({k: round(v, 1) for k, v in scaleout.start_times.items()})}"
        f"\n{len(citizens)} conversations, {len(turns)} messages in {took:.1f} s; latency p50 "
        f"{latencies[len(latencies) // 2]:.2f} s, max {latencies[-1]:.2f} s"
        f"\nREST messages per Rasa server {dict(rasa)}; action calls per action server {dict(actions)}"
    )
    return citizens


@pytest.fixture(scope="module")
def trackers(scaleout, citizens) -> dict[str, dict]:
    return asyncio.run(fetch_trackers(scaleout.rasa_url, citizens))


def served_by(scaleout: ScaleOut) -> dict[str, str]:
    """X-Trace → the Rasa server that answered that message."""
    return {e["trace"]: e["upstream"] for e in scaleout.access_log("rasa") if e["route"] == "webhook"}


def test_every_message_is_answered_and_every_form_submitted(citizens):
    failed = {c.name: c.error for c in citizens if c.error}
    assert not failed, failed
    for citizen in citizens:
        for turn in citizen.turns:
            assert turn.status == 200 and any(turn.bot_texts), (citizen.name, turn)
        assert citizen.reference, citizen.name


def test_every_instance_serves_and_conversations_are_spread_over_both_rasa_servers(scaleout, citizens):
    rasa = [e for e in scaleout.access_log("rasa") if e["route"] == "webhook"]
    actions = [e for e in scaleout.access_log("actions") if e["route"] == "action"]
    assert len(rasa) == sum(len(c.turns) for c in citizens)
    assert {e["status"] for e in rasa} == {"200"} and {e["status"] for e in actions} == {"200"}
    assert Counter(e["upstream"] for e in rasa).keys() == set(scaleout.rasa_backends)
    assert Counter(e["upstream"] for e in actions).keys() == set(scaleout.action_backends)
    # the hard case for the lock store: one conversation's messages on both Rasa servers
    server = served_by(scaleout)
    spread = [c for c in citizens if {server[t.trace] for t in c.turns} == set(scaleout.rasa_backends)]
    assert len(spread) >= len(citizens) - 2, f"only {len(spread)} conversations used both Rasa servers"


def test_messages_of_one_conversation_were_in_flight_together_on_both_servers(scaleout, citizens):
    """Without this the tracker test below would prove nothing about the lock store."""
    server = served_by(scaleout)
    pairs = [u for c in citizens for u in c.units if len(u) == 2]
    overlapping = [(a, b) for a, b in pairs if b.sent < a.answered]
    on_both = [(a, b) for a, b in overlapping if server[a.trace] != server[b.trace]]
    print(
        f"\n{len(overlapping)} of {len(pairs)} pairs were in flight together, {len(on_both)} of them on two "
        "Rasa servers"
    )
    assert len(overlapping) >= len(pairs) // 2
    assert len(on_both) >= 3


def exchanges(tracker: dict) -> list[tuple[str, list[str | None]]]:
    """The tracker as (user text, [bot texts until the next user message])."""
    result: list[tuple[str, list[str | None]]] = []
    for event in tracker["events"]:
        if event["event"] == "user":
            result.append((event.get("text"), []))
        elif event["event"] == "bot":
            assert result, f"a bot message before any user message: {event}"
            result[-1][1].append(event.get("text"))
    return result


def test_each_tracker_is_exactly_its_conversation_in_order(citizens, trackers):
    swapped = 0
    for citizen in citizens:
        tracker = trackers[citizen.sender]
        seen = exchanges(tracker)
        assert len(seen) == len(citizen.turns), (citizen.name, [u for u, _ in seen], [t.text for t in citizen.turns])
        position = 0
        for unit in citizen.units:
            stored = seen[position : position + len(unit)]
            position += len(unit)
            # Messages sent one after the other are stored in that order. A pair sent together may be
            # stored either way round (whichever reached the lock first), but each message must be
            # followed by exactly the replies its own request returned, with nothing in between.
            expected = [(t.text, t.bot_texts) for t in unit]
            if len(unit) > 1:
                swapped += stored[0][0] != unit[0].text
                stored, expected = sorted(stored, key=lambda e: e[0]), sorted(expected, key=lambda e: e[0])
            assert stored == expected, (citizen.name, stored, expected)
        dump = json.dumps(tracker["events"], ensure_ascii=False)
        assert citizen.name in dump and citizen.phone in dump
        others = [m for other in citizens if other is not citizen for m in other.markers()]
        assert not [m for m in others if m in dump], (citizen.name, [m for m in others if m in dump])
    print(f"\n{swapped} pairs sent together were handled in the other order")


def test_every_application_is_stored_exactly_once(scaleout, citizens):
    from sqlalchemy import func, select

    from bot.storage.sql import applications, escalations, make_engine

    engine = make_engine(scaleout.records_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(applications)).mappings().all()
            queued = conn.execute(
                select(escalations.c.sender_id, func.count())
                .where(escalations.c.reason == "intake")
                .group_by(escalations.c.sender_id)
            ).all()
    finally:
        engine.dispose()
    by_sender = Counter(r["sender_id"] for r in rows)
    assert len(rows) == len(citizens) and set(by_sender.values()) == {1}, by_sender
    assert len({r["reference"] for r in rows}) == len(rows)
    stored = {r["sender_id"]: r for r in rows}
    for citizen in citizens:
        row = stored[citizen.sender]
        assert (row["name"], row["phone"], row["reference"]) == (citizen.name, citizen.phone, citizen.reference)
        assert row["town"] == citizen.town
    assert dict(queued) == {c.sender: 1 for c in citizens}
