"""End-to-end message latency under concurrent conversations, through Rasa's REST channel.

Each simulated citizen is a conversation of its own (a fresh ``web:<uuid>`` sender) that walks one
of ``SCRIPTS`` - realistic multi-turn Chinese consultations: a question, a follow-up, the legal
basis, a form started - so every message goes through Rasa (NLU, rules, forms), the action server
(topic, FAQ retrieval, statutes, the database) and back. Two kinds of load:

- ``paced``: citizens pause ``think_s`` (uniform 1-3 s) between messages, as people typing on a
  phone do (real typing is slower still). This is what "N concurrent conversations" means for
  the bureau; the latency targets are read off this load.
- ``closed``: no pause at all - every citizen sends the next message the moment the reply arrives.
  This saturates the machine and shows its capacity (messages per second) and the queueing
  latency at saturation.

Two sets of conversations: ``SCRIPTS`` (short messages, most of them form slots) and
``real_style_scripts`` - questions in citizens' own words from the real-style evaluation set
(``knowledge_base/eval/real_style/``, about 58 characters), each followed by a follow-up and a
second question, so most messages are retrievals of real length.

A message counts as an error when the request fails, is not 200, the bot says nothing, or it says
``utter_error`` (the action server's "something went wrong" reply, ``error_replies``). One
exception: a real-style question may be an emergency, which hands the conversation to a person and
pauses it in Rasa, so Rasa answers the next message with nothing by design (through the real
channels the gateway puts it in the escalation's transcript). Given Rasa's token, a silent reply to
a paused conversation counts as ``handed_over`` and ends that citizen's script.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
import time
import uuid
from pathlib import Path

import httpx
import yaml

from bench.stats import percentiles
from bot.settings import PROJECT_ROOT

#: Realistic conversations (none asks for a person: a paused conversation answers nothing by design).
SCRIPTS = [
    ["你好", "老板拖欠我三个月工资怎么办", "法律依据是什么", "公司不承认我是他们的员工咋办", "好的谢谢"],
    ["离婚了孩子抚养费对方不给怎么办", "孩子跟谁有啥规定", "法律依据是什么", "谢谢"],
    ["邻居砌墙占了我家的地", "能不能找村里调解", "调解要钱吗"],
    ["出车祸了对方全责但是不赔钱", "误工费怎么算", "可以申请法律援助吗"],
    ["借给朋友五万块钱他不还 有借条", "过了几年还能告吗", "法律依据是什么"],
    ["我要申请法律援助", "1", "同意", "王小明", "13812345678", "花石镇"],
    ["爸妈老了兄弟都不管", "赡养费一般给多少", "谢谢你"],
    ["在网上买到假货商家不退款", "可以打什么电话投诉", "好的"],
]


@functools.cache
def error_replies(domain: Path = PROJECT_ROOT / "domain.yml") -> frozenset[str]:
    """The texts of ``utter_error``, what the bot says when an action failed: such an answer is an
    error, though Rasa answered 200."""
    responses = yaml.safe_load(domain.read_text(encoding="utf-8"))["responses"]["utter_error"]
    return frozenset(response["text"] for response in responses)


#: Follow-ups citizens send after an answer (the follow-up intent answers them from the same entry).
FOLLOW_UPS = ["那我需要准备什么材料", "这个要去哪里办", "有没有时间限制", "法律依据是什么"]


def real_style_scripts(kb_dir: Path, seed: int = 11, exclude: frozenset[str] = frozenset()) -> list[list[str]]:
    """Multi-turn conversations of real-length questions: question, follow-up, question, thanks.

    Every question of both splits (but ``exclude``) is used once, so that no conversation repeats
    another's questions: a repeated question would be answered from the action server's caches.
    """
    from bot.retrieval.evaluation import SPLITS, read_questions

    questions = [q.query for split in SPLITS for q in read_questions(kb_dir, split) if q.query not in exclude]
    random.Random(seed).shuffle(questions)
    return [
        [questions[2 * i], FOLLOW_UPS[i % len(FOLLOW_UPS)], questions[2 * i + 1], "谢谢"]
        for i in range(len(questions) // 2)
    ]


async def _citizen(
    client: httpx.AsyncClient,
    url: str,
    script: list[str],
    think: tuple[float, float],
    rng: random.Random,
    latencies: list[float],
    errors: list[str],
    token: str = "",
) -> bool:
    """Walk ``script``; True when the conversation was handed to a person on the way."""
    sender = f"web:{uuid.uuid4()}"
    for i, text in enumerate(script):
        if i and think[1] > 0:
            await asyncio.sleep(rng.uniform(*think))
        started = time.perf_counter()
        try:
            response = await client.post(url, json={"sender": sender, "message": text})
            error: str | None = None
            if response.status_code != 200:
                error = f"status {response.status_code}"
            elif not (replies := response.json()):
                error = "no reply"
            elif any(reply.get("text") in error_replies() for reply in replies):
                error = "error reply"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        latencies.append(1000 * (time.perf_counter() - started))
        if error == "no reply" and token and await _paused(client, url, sender, token):
            return True
        if error:
            errors.append(error)
    return False


async def _paused(client: httpx.AsyncClient, webhook_url: str, sender: str, token: str) -> bool:
    """Whether Rasa paused this conversation (an escalation to a person)."""
    base = webhook_url.removesuffix("/webhooks/rest/webhook")
    try:
        response = await client.get(f"{base}/conversations/{sender}/tracker", params={"token": token})
        return response.status_code == 200 and bool(response.json().get("paused"))
    except httpx.HTTPError:
        return False


async def run_level(
    rasa_url: str,
    concurrency: int,
    conversations: list[list[str]],
    think: tuple[float, float],
    seed: int = 7,
    token: str = "",
) -> dict:
    """The ``conversations``, ``concurrency`` of them at any moment; their message latencies
    (``token``: Rasa's, to tell a conversation handed to a person from a silent bot)."""
    url = f"{rasa_url}/webhooks/rest/webhook"
    rng = random.Random(seed)
    latencies: list[float] = []
    errors: list[str] = []
    handed_over = 0
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for script in conversations:
        queue.put_nowait(script)
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal handed_over
        await asyncio.sleep(rng.uniform(0, think[1]))  # citizens do not all start in the same millisecond
        while not queue.empty():
            handed = await _citizen(client, url, queue.get_nowait(), think, rng, latencies, errors, token)
            handed_over += handed  # after the await: `x += await ...` reads x before it

    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "conversations": len(conversations),
        "messages": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "handed_over": handed_over,
        "wall_s": round(wall, 1),
        "messages_per_s": round(len(latencies) / wall, 2),
        "latency_ms": percentiles(latencies),
        "think_s": list(think),
    }


def load_figures(
    rasa_url: str, levels: tuple[int, ...] = (1, 10, 20, 50), scripts: list[list[str]] = SCRIPTS, token: str = ""
) -> dict:
    """Paced and closed-loop load at each concurrency level, with fresh senders.

    Each run takes the next conversations of ``scripts``, so runs repeat none of the earlier runs'
    conversations while ``scripts`` lasts (the real-style set does; the eight short scripts cannot).
    """
    results: dict[str, list[dict]] = {"paced": [], "closed": []}
    pool = itertools.cycle(scripts)
    for level in levels:
        # enough conversations that every level sends a few hundred messages at most
        conversations = max(2 * level, 16)
        for mode, think in (("paced", (1.0, 3.0)), ("closed", (0.0, 0.0))):
            run = [next(pool) for _ in range(conversations)]
            results[mode].append(asyncio.run(run_level(rasa_url, level, run, think, token=token)))
    chars = [len(text) for script in scripts for text in script]
    return {"scripts": len(scripts), "mean_message_chars": round(sum(chars) / len(chars), 1), **results}


def plot(loads: dict[str, dict], path: Path) -> None:
    """Latency against concurrency (paced load) and throughput, one line per message set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_lat, ax_rate) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (name, figures), colour in zip(loads.items(), ("tab:blue", "tab:orange"), strict=False):
        rows = figures["paced"]
        levels = [r["concurrency"] for r in rows]
        for q, marker in (("p50", "o"), ("p99", "^")):
            ax_lat.plot(
                levels, [r["latency_ms"][q] for r in rows], "-", color=colour, marker=marker, label=f"{name} {q}"
            )
        for mode, style in (("paced", "-"), ("closed", "--")):
            ax_rate.plot(
                [r["concurrency"] for r in figures[mode]],
                [r["messages_per_s"] for r in figures[mode]],
                style,
                color=colour,
                marker="o",
                label=f"{name} {mode}",
            )
    ax_lat.set(
        xlabel="concurrent citizens (1-3 s thinking)",
        ylabel="latency (ms)",
        yscale="log",
        title="End-to-end message latency (REST channel)",
    )
    for target in (120, 400):
        ax_lat.axhline(target, color="grey", lw=0.8, ls=":")
    ax_lat.legend(fontsize=7, ncol=2)
    ax_rate.set(xlabel="concurrent citizens", ylabel="messages / s", title="Throughput (closed: no thinking)")
    ax_rate.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
