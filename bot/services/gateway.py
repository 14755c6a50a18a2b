"""The one path from any channel to the bot: Rasa, unless a person has the conversation.

Channels (web chat, Telegram, WeChat, the terminal chat) turn their updates into
``(sender_id, text)`` and show the returned messages; everything else is here, once.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from bot.rasa_client import MAX_MESSAGE_CHARS, BotMessage, RasaClient
from bot.services.handoff import Handoff
from bot.settings import Settings

EMPTY = "请输入您想咨询的问题。"
TOO_FAST = "您发消息太快了，请稍等几秒再发。刚才这条没有收到，请重新发送。"
TOO_LONG = f"消息太长了，请分几次发送（每次不超过{MAX_MESSAGE_CHARS}字）。"
TRY_LATER = "系统繁忙，请稍后再试：刚才这条没有收到，请过一会儿重新发送。之前说的内容都还在；着急的话可以拨打12348。"


class RateLimit:
    """Per-sender token bucket: ``burst`` messages at once, then one every ``every`` seconds.

    It protects the bot (and staff) from floods; a citizen typing normally never meets it.
    """

    def __init__(self, burst: int = 8, every: float = 2.0, clock=time.monotonic, max_senders: int = 100_000) -> None:
        self.burst, self.every, self._clock, self._max = burst, every, clock, max_senders
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, sender_id: str) -> bool:
        now = self._clock()
        tokens, last = self._buckets.pop(sender_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) / self.every)
        allowed = tokens >= 1.0
        self._buckets[sender_id] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return allowed


def privacy_notice(settings: Settings) -> str:
    """What a citizen is told with the first reply (PIPL art. 17): what is collected, why, for how
    long, how to have it erased, and whom to ask."""
    chats = max(settings.retain_tracker_days, settings.retain_transcript_days)
    return (
        "【个人信息保护提示】为了解答您的问题、办理法律援助申请和调解预约，本服务会记录您发来的消息，"
        "以及您填写的姓名、电话、住址等信息，只用于办理您的事项和不含个人身份的统计。"
        f"聊天记录保存{chats}天，办结的申请和预约保存{settings.retain_case_days}天，到期自动删除。"
        "您可以随时要求查阅、更正或删除您的个人信息：回复“转人工”告诉工作人员即可。"
        "有疑问可以拨打12348公共法律服务热线。"
    )


class FirstReplies:
    """Adds the privacy notice to the first reply each sender gets.

    Remembered per process (bounded): after a restart a citizen may be told once more, never less.
    """

    def __init__(self, notice: str, max_senders: int = 100_000) -> None:
        self.notice, self._max = notice, max_senders
        self._told: OrderedDict[str, None] = OrderedDict()

    def add_notice(self, sender_id: str, replies: list[BotMessage]) -> list[BotMessage]:
        if sender_id in self._told:
            return replies
        self._told[sender_id] = None
        if len(self._told) > self._max:
            self._told.popitem(last=False)
        return [*replies, BotMessage(self.notice)]


class Gateway:
    def __init__(
        self,
        rasa: RasaClient,
        handoff: Handoff | None = None,
        limit: RateLimit | None = None,
        notice: str | None = None,
    ) -> None:
        self.rasa = rasa
        self.handoff = handoff
        self.limit = limit or RateLimit()
        self.first_replies = FirstReplies(notice) if notice else None

    async def handle(self, sender_id: str, text: str) -> list[BotMessage]:
        """The replies to one citizen message (possibly none while a person has the conversation).

        Raises:
            RasaUnavailable: the bot could not be reached; channels answer with ``TRY_LATER``.
        """
        if not self.limit.allow(sender_id):
            return [BotMessage(TOO_FAST)]
        text = text.strip()
        if not text:
            return [BotMessage(EMPTY)]
        if len(text) > MAX_MESSAGE_CHARS:
            return [BotMessage(TOO_LONG)]
        escalation = self.handoff.open_for(sender_id) if self.handoff else None
        if escalation is not None:
            # A person has the conversation: the message goes to the queue's transcript, not to Rasa
            # (a user turn left unanswered in Rasa's paused tracker would be acted on after resuming).
            return self.handoff.citizen_message(escalation, text)
        replies = await self.rasa.send_async(sender_id, text)
        # Rasa answers nothing when an action could not run (the action server is down or restarting):
        # the citizen is told, rather than left in silence.
        if not replies:
            return [BotMessage(TRY_LATER)]
        return self.first_replies.add_notice(sender_id, replies) if self.first_replies else replies
