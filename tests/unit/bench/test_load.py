"""The load test tells a conversation handed to a person (paused in Rasa) from a silent bot, and
counts the bot's "something went wrong" reply as an error."""

import asyncio
import random

import httpx

from bench.load import _citizen, error_replies

URL = "http://rasa.test/webhooks/rest/webhook"


def walk(
    paused: bool, token: str = "t", third: list[dict] | None = None
) -> tuple[bool, list[float], list[str], list[str]]:
    said: list[str] = []

    def rasa(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tracker"):
            assert request.url.params["token"] == "t"
            return httpx.Response(200, json={"paused": paused, "events": []})
        text = request.read().decode()
        said.append(text)
        # the third answer is `third`; by default nothing, as after an emergency Rasa paused for a person
        return httpx.Response(200, json=(third or []) if len(said) == 3 else [{"text": "好的"}])

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(rasa)) as client:
            latencies, errors = [], []
            script = ["一", "二", "三", "四"]
            handed = await _citizen(client, URL, script, (0, 0), random.Random(1), latencies, errors, token)
            return handed, latencies, errors

    handed, latencies, errors = asyncio.run(go())
    return handed, latencies, errors, said


def test_a_paused_conversation_is_handed_over_and_ends():
    handed, latencies, errors, said = walk(paused=True)
    assert handed and errors == [] and len(latencies) == 3 and len(said) == 3


def test_silence_in_a_conversation_that_is_not_paused_is_an_error():
    handed, latencies, errors, said = walk(paused=False)
    assert not handed and errors == ["no reply"] and len(said) == 4


def test_without_the_token_silence_is_an_error():
    handed, _, errors, _ = walk(paused=True, token="")
    assert not handed and errors == ["no reply"]


def test_the_error_reply_is_an_error():
    (text,) = error_replies()  # domain.yml's utter_error
    assert "12348" in text
    handed, latencies, errors, said = walk(paused=False, third=[{"text": "您好"}, {"text": text}])
    assert not handed and errors == ["error reply"] and len(latencies) == 4
