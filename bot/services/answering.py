"""The "answer a legal question" use case: topic, FAQ retrieval or a named article, next steps."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain import AnswerKind, Article, FaqEntry, FaqHit, TopicPrediction
from bot.knowledge.laws import StatuteLibrary, find_article_reference
from bot.retrieval.faq import FaqRetriever
from bot.retrieval.statutes import StatuteSearch, asks_for_law, law_question
from bot.retrieval.topics import TopicClassifier

#: Topics where a legal-aid application or a mediation booking is a sensible next step.
LEGAL_AID_TOPICS = frozenset({"劳动纠纷", "婚姻家庭", "交通事故", "人身损害", "医疗纠纷", "刑事辩护", "行政诉讼"})
MEDIATION_TOPICS = frozenset(
    {
        "婚姻家庭",
        "房产纠纷",
        "侵权",
        "债权债务",
        "交通事故",
        "人身损害",
        "合同纠纷",
        "消费权益",
        "劳动纠纷",
        "建设工程",
        "抵押担保",
    }
)


def offers_for_topic(topic: str | None) -> tuple[str, ...]:
    """Quick-reply intents that fit a topic: legal aid and/or mediation, then always a human."""
    offers = []
    if topic in LEGAL_AID_TOPICS:
        offers.append("apply_legal_aid")
    if topic in MEDIATION_TOPICS:
        offers.append("book_mediation")
    return (*offers, "request_human", "continue_asking")


@dataclass(frozen=True)
class Answer:
    kind: AnswerKind
    hits: tuple[FaqHit, ...]
    topic: TopicPrediction | None
    articles: tuple[Article, ...] = ()
    #: When no entry fits: articles statute search is sure of, shown as "相关法律规定" (not an answer).
    related: tuple[Article, ...] = ()

    @property
    def offers(self) -> tuple[str, ...]:
        """Quick-reply intents that fit this answer's topic."""
        if self.kind is AnswerKind.CONFIDENT and self.hits:
            return offers_for_topic(self.hits[0].entry.topic)
        return offers_for_topic(self.topic.best.label if self.topic else None)


#: How many articles a "which law says so" question is answered with, and the least fused score.
STATUTE_ANSWERS = 2
STATUTE_MIN_SCORE = 0.30
#: The least fused statute score at which articles are shown beside an honest "no answer" (and a
#: person offered). Chosen on ``knowledge_base/dev/laws_dev.jsonl``: at >= 0.40 the first article is
#: a right one for 79.5% of the 127 of 224 lay questions that reach it; higher floors are no more
#: precise (0.50: 77% of 35), they only show articles less often.
STATUTE_RELATED_MIN_SCORE = 0.40


#: Which structured fact a follow-up asks for ("那需要什么材料" → materials).
FOLLOW_UP_FACTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("materials", re.compile(r"材料|资料|证件|证明|带什么|带啥|带么子|带哪些|准备什么|准备啥|准备些|身份证")),
    ("where", re.compile(r"哪里|哪儿|哪个部门|哪个单位|哪个地方|找谁|找哪|去哪")),
    ("cost", re.compile(r"多少钱|收费|费用|交钱|花钱|要钱|免费")),
    ("time_limit", re.compile(r"多久|多长时间|多少天|几天|期限|时间限制|时效|来不来得及|过了.*还能")),
)
#: How the facts are introduced to the citizen.
FACT_TITLES = {"materials": "需要准备的材料", "where": "去哪里办", "cost": "费用", "time_limit": "时间和期限"}


def asked_fact(text: str) -> str | None:
    return next((name for name, pattern in FOLLOW_UP_FACTS if pattern.search(text)), None)


@dataclass(frozen=True)
class FollowUp:
    """The answer to a follow-up about the last answer: one of its facts, or a neighbouring entry
    of the same subject ("那如果对方不同意呢"), or nothing (then a person)."""

    about: FaqEntry
    fact: str | None
    entry: FaqEntry | None = None

    @property
    def fact_text(self) -> str | None:
        return (self.entry or self.about).fact(self.fact) if self.fact else None


class QuestionAnswering:
    def __init__(
        self,
        retriever: FaqRetriever,
        topics: TopicClassifier | None,
        laws: StatuteLibrary,
        statutes: StatuteSearch | None = None,
    ) -> None:
        self._retriever = retriever
        self._topics = topics
        self._laws = laws
        self._statutes = statutes

    def find_articles(self, text: str, search: bool = True) -> tuple[Article, ...]:
        """Articles for a question about the law itself: a named article, else (when ``search``)
        statute search."""
        article = find_article_reference(text, self._laws)
        if article is not None:
            return (article,)
        if not search or self._statutes is None or not law_question(text):
            return ()
        hits = self._statutes.search(text, k=STATUTE_ANSWERS)
        return tuple(h.article for h in hits if h.score >= STATUTE_MIN_SCORE)

    def follow_up(self, text: str, last_entry_id: str | None) -> FollowUp | None:
        """Answer a follow-up in the context of the last answer; None when there was none."""
        about = self._retriever.get(last_entry_id) if last_entry_id else None
        if about is None:
            return None
        fact = asked_fact(text)
        if fact and about.fact(fact):
            return FollowUp(about, fact)
        hits = self._retriever.search(f"{about.question} {text}", k=10)
        index = self._retriever.index
        same = [h for h in hits if h.entry.topic == about.topic and (fact or h.entry.id != about.id)]
        if same and same[0].score >= index.thresholds.confident:
            return FollowUp(about, fact, same[0].entry)
        return FollowUp(about, fact)

    def answer(self, text: str) -> Answer:
        topic = self._topics.predict([text])[0] if self._topics and text.strip() else None
        articles = self.find_articles(text, search=asks_for_law(text))
        if articles:
            return Answer(AnswerKind.CONFIDENT, (), topic, articles)
        result = self._retriever.answer(text)
        related: tuple[Article, ...] = ()
        if result.kind is AnswerKind.NONE and self._statutes is not None and len(text.strip()) >= 8:
            related = tuple(
                h.article
                for h in self._statutes.search(text, k=STATUTE_ANSWERS, faq_hits=result.hits)
                if h.score >= STATUTE_RELATED_MIN_SCORE
            )
        return Answer(result.kind, result.hits, topic, related=related)
