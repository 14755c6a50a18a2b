"""What a handled question counts as: the statistics, and the questions kept for the FAQ writers.

The rules live here, not in the Rasa actions: a direct answer counts under its entry's topic; a
choice list, a handoff or a statute shown count under the classifier's topic; every question the
FAQ did not answer directly is kept (scrubbed of phone and ID numbers and names by the store) for
the "未答问题" page. Nothing here keeps a raw sender id: statistics carry a pseudonym.
"""

from __future__ import annotations

from bot.domain import AnswerKind, Consultation, UnansweredQuestion
from bot.privacy import hashed
from bot.rasa_client import MAX_MESSAGE_CHARS
from bot.services.answering import Answer
from bot.services.outbound import channel_of
from bot.storage.port import CaseStore


class ConsultationLog:
    def __init__(self, store: CaseStore) -> None:
        self._store = store

    def count(
        self,
        sender_id: str,
        kind: str,
        topic: str | None,
        faq_id: str | None = None,
        score: float | None = None,
        town: str | None = None,
    ) -> None:
        """Count one handled question for the statistics (no text; the sender pseudonymised)."""
        self._store.record_consultation(
            Consultation(
                hashed(sender_id),
                channel_of(sender_id),
                kind,
                topic,
                town,
                faq_id,
                round(score, 4) if score is not None else None,
            )
        )

    def answered(self, sender_id: str, text: str, answer: Answer, town: str | None = None) -> None:
        """Count a question the FAQ path handled; keep it for the writers unless it was answered."""
        top = answer.hits[0] if answer.hits else None
        direct = top is not None and answer.kind is AnswerKind.CONFIDENT
        classified = answer.topic.best.label if answer.topic else None
        self.count(
            sender_id,
            "statute" if answer.articles else answer.kind.value,
            top.entry.topic if top is not None and direct else classified,
            top.entry.id if top is not None and direct else None,
            top.score if top else None,
            town,
        )
        if not direct and not answer.articles:
            reason = "none" if answer.kind is AnswerKind.NONE else "low_confidence"
            self.unanswered(sender_id, text, reason, classified)

    def unanswered(self, sender_id: str, text: str, reason: str, topic: str | None) -> None:
        """Keep a question the bot could not answer ("none", "low_confidence", "fallback")."""
        self._store.record_unanswered(
            UnansweredQuestion(
                channel_of(sender_id), text[:MAX_MESSAGE_CHARS], reason, topic, sender_hash=hashed(sender_id)
            )
        )
