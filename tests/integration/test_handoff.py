"""The whole human-handoff loop through the real web app, Rasa and action server.

citizen asks for a person → the bot pauses → staff list, claim, read, reply → the reply reaches the
citizen's channel → staff close → the bot answers again. Telegram and WeChat run the same loop in
their own tests through their fakes.
"""

from __future__ import annotations

import httpx
import pytest

from bot.wording import CLOSED_NOTICE
from tests.support.stack import STAFF_TOKENS

pytestmark = pytest.mark.integration


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def test_web_citizen_to_staff_and_back(web_url, staff_api):
    citizen = httpx.Client(base_url=web_url, timeout=60)
    first = citizen.post("/api/chat", json={"message": "我要找工作人员"}).json()
    sender = first["sender"]
    assert "人工" in texts(first["messages"]) and first["human"] == "waiting"

    # while paused the bot is quiet; the citizen is told once that a person will reply
    told = citizen.post("/api/chat", json={"sender": sender, "message": "邻居砌墙占了我家的地"}).json()
    assert "工作人员" in texts(told["messages"]) and "12348" in texts(told["messages"])
    assert citizen.post("/api/chat", json={"sender": sender, "message": "有人吗"}).json()["messages"] == []

    assert httpx.get(f"{web_url}/api/staff/conversations").status_code == 401
    waiting = staff_api.get("/conversations").json()["conversations"]
    conversation = next(c for c in waiting if c["sender_id"] == sender)
    assert conversation["channel"] == "web" and conversation["status"] == "waiting"
    number = conversation["id"]
    assert staff_api.post(f"/conversations/{number}/claim").json()["conversation"]["assignee"] == staff_api.staff_name
    other_name, other_token = list(STAFF_TOKENS.items())[1]
    taken = httpx.post(
        f"{web_url}/api/staff/conversations/{number}/claim", headers={"Authorization": f"Bearer {other_token}"}
    )
    assert taken.status_code == 409 and "error" in taken.json()

    detail = staff_api.get(f"/conversations/{number}").json()
    assert ["邻居砌墙占了我家的地", "有人吗"] == [m["text"] for m in detail["messages"] if m["author"] == "citizen"]
    assert any(line["text"] == "我要找工作人员" for line in detail["bot_transcript"])  # from Rasa's tracker

    staff_api.post(f"/conversations/{number}/reply", json={"text": "您好，请把界址的情况说一下。"}).raise_for_status()
    updates = citizen.get("/api/chat/updates", params={"sender": sender}).json()
    assert "您好，请把界址的情况说一下。" in texts(updates["messages"]) and updates["human"] == "claimed"
    seen = updates["messages"][-1]["id"]

    staff_api.post(f"/conversations/{number}/close").raise_for_status()
    later = citizen.get("/api/chat/updates", params={"sender": sender, "after": seen}).json()
    assert [m["text"] for m in later["messages"]] == [CLOSED_NOTICE] and later["human"] is None
    back = citizen.post("/api/chat", json={"sender": sender, "message": "宅基地纠纷怎么处理"}).json()
    assert back["messages"] and back["human"] is None  # the bot answers again
    assert any(
        c["id"] == number for c in staff_api.get("/conversations", params={"status": "closed"}).json()["conversations"]
    )


def test_staff_api_rejects_bad_requests_politely(web_url, staff_api):
    assert staff_api.get("/conversations", params={"status": "nonsense"}).status_code == 400
    assert staff_api.post("/conversations/999999/claim").status_code == 404
    assert staff_api.post("/conversations/999999/reply", json={"text": ""}).status_code == 400
    wrong = httpx.get(f"{web_url}/api/staff/conversations", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "Traceback" not in wrong.text
