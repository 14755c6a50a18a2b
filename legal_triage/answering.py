"""The "answer a legal question" use case: topic, FAQ retrieval or a named article, next steps."""

from __future__ import annotations

from dataclasses import dataclass

from legal_triage.domain import AnswerKind, Article, FaqHit, TopicPrediction
from legal_triage.laws import StatuteLibrary, find_article_reference
from legal_triage.retrieval import FaqRetriever
from legal_triage.statutes import StatuteSearch, asks_for_law, law_question
from legal_triage.topics import TopicClassifier

#: Topics where a legal-aid application or a mediation booking is a sensible next step.
LEGAL_AID_TOPICS = frozenset({"劳动纠纷", "婚姻家庭", "交通事故", "人身损害", "医疗纠纷", "刑事辩护", "行政诉讼"})
MEDIATION_TOPICS = frozenset({"婚姻家庭", "房产纠纷", "侵权", "债权债务", "交通事故", "人身损害", "合同纠纷",
                              "消费权益", "劳动纠纷", "建设工程", "抵押担保"})


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

    @property
    def offers(self) -> tuple[str, ...]:
        """Quick-reply intents that fit this answer's topic."""
        if self.kind is AnswerKind.CONFIDENT and self.hits:
            return offers_for_topic(self.hits[0].entry.topic)
        return offers_for_topic(self.topic.best.label if self.topic else None)


#: How many articles a "which law says so" question is answered with, and the least fused score.
STATUTE_ANSWERS = 2
STATUTE_MIN_SCORE = 0.30


class QuestionAnswering:
    def __init__(self, retriever: FaqRetriever, topics: TopicClassifier | None, laws: StatuteLibrary,
                 statutes: StatuteSearch | None = None) -> None:
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

    def answer(self, text: str) -> Answer:
        topic = self._topics.predict([text])[0] if self._topics and text.strip() else None
        articles = self.find_articles(text, search=asks_for_law(text))
        if articles:
            return Answer(AnswerKind.CONFIDENT, (), topic, articles)
        result = self._retriever.answer(text)
        return Answer(result.kind, result.hits, topic)
