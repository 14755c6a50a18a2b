"""Nothing a citizen entered is lost when a process restarts mid-form."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from bot.composition import build_web_app
from bot.settings import Settings
from tests.integration.conftest import wait_until
from tests.support.stack import RASA_TOKEN

pytestmark = pytest.mark.integration


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def test_web_chat_reaches_the_real_bot(stack):
    web = TestClient(
        build_web_app(
            Settings(
                rasa_url=stack.rasa_url, rasa_token=RASA_TOKEN, database_url=stack.env["LEGAL_TRIAGE_DATABASE_URL"]
            )
        )
    )
    body = web.post("/api/chat", json={"message": "你好"}).json()
    assert body["sender"].startswith("web:") and "法律咨询" in texts(body["messages"])


def test_form_survives_restarts_of_rasa_and_the_action_server(stack):
    sender = f"web:{uuid.uuid4()}"
    stack.say(sender, "我要申请法律援助")
    stack.say(sender, "1")
    stack.say(sender, "同意")
    assert "手机" in texts(stack.say(sender, "我叫赵大山"))
    actions_log = stack.tmp / "actions.log"
    warmed = actions_log.read_text(errors="replace").count("warm_up_done")
    stack.stop("rasa")
    stack.stop("actions")
    stack.start_actions()
    # the new action server loads its models at start, before any citizen writes
    wait_until(
        lambda: actions_log.read_text(errors="replace").count("warm_up_done") == warmed + 1,
        what="the action server's warm-up",
    )
    stack.start_rasa()
    assert "乡镇" in texts(stack.say(sender, "13700001111"))  # the form went on where it was
    stack.say(sender, "射埠镇")
    for answer in ("不知道", "某劳务公司", "欠了两个月工资", "没有", "月收入两千"):
        reply = texts(stack.say(sender, answer))
        if "请核对" in reply:
            break
    assert "赵大山" in reply and "137****1111" in reply
    done = texts(stack.say(sender, "确认"))
    assert re.search(r"LA-\d{8}-\d{4}", done), done


def test_logs_hold_no_names_phones_or_message_text(stack):
    """PIPL: after all the conversations above, no raw personal data is in any process log."""
    sender = f"web:{uuid.uuid4()}"
    stack.say(sender, "我要申请法律援助")
    stack.say(sender, "1")
    stack.say(sender, "同意")
    stack.say(sender, "我叫钱多多")
    stack.say(sender, "13600002222")
    stack.say(sender, "邻居家的狗把我咬伤了医药费谁出")
    logs = "\n".join(p.read_text(errors="replace") for p in stack.tmp.glob("*.log"))
    assert "answer sender=web:" in logs  # our events are logged, pseudonymised
    for secret in ("钱多多", "13600002222", "张建国", "13812345678", "狗把我咬伤", sender.split(":")[1]):
        assert secret not in logs
