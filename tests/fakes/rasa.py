"""The in-memory twin of ``bot.rasa_client.RasaClient``: what the web app, console and channels call."""

from __future__ import annotations

from collections.abc import Sequence

from bot.rasa_client import BotMessage, Button, RasaUnavailable

GREETING = (BotMessage("您好", (Button("转人工", "/request_human"),)),)
#: One citizen turn as the console's conversation page shows it.
TRANSCRIPT = (
    {
        "author": "citizen",
        "text": "老板欠工资",
        "buttons": [],
        "at": 1.0,
        "intent": "ask_legal_question",
        "confidence": 0.93,
        "topic": "劳动纠纷",
        "faq": "labour-wage-arrears",
    },
)


class FakeRasa:
    """Replies with ``replies`` (a greeting with a 转人工 button unless told), records what it saw;
    ``down=True`` answers like an unreachable server."""

    def __init__(
        self, replies: Sequence[BotMessage] = GREETING, down: bool = False, transcript: Sequence[dict] = TRANSCRIPT
    ) -> None:
        self.replies = list(replies)
        self.down = down
        self.transcript_events = list(transcript)
        self.seen: list[tuple[str, str]] = []
        self.metadata: list[dict | None] = []  # what came with each message seen
        self.resumed: list[str] = []
        self.transcripts: list[str] = []

    async def send_async(self, sender_id: str, text: str, metadata: dict | None = None) -> list[BotMessage]:
        if self.down:
            raise RasaUnavailable("ConnectError")
        self.seen.append((sender_id, text))
        self.metadata.append(metadata)
        return list(self.replies)

    async def resume(self, sender_id: str) -> None:
        self.resumed.append(sender_id)

    async def transcript(self, sender_id: str) -> list[dict]:
        self.transcripts.append(sender_id)
        return list(self.transcript_events)
