"""What a handled question counts as (bot/services/consultations.py), on the in-memory store twin."""

from __future__ import annotations

from bot.domain import AnswerKind, FaqHit, TopicPrediction, TopicScore
from bot.services.answering import Answer
from bot.services.consultations import ConsultationLog
from bot.storage.memory import InMemoryCaseStore

SENDER = "web:5b1f0d0e-0000-4000-8000-000000000001"
TOPIC = TopicPrediction((TopicScore("劳动纠纷", 0.7), TopicScore("合同纠纷", 0.2)), confident=True)


def test_a_direct_answer_counts_under_its_entry_and_is_not_kept(knowledge):
    entry = next(e for e in knowledge.entries if e.topic == "婚姻家庭")
    store = InMemoryCaseStore()
    answer = Answer(AnswerKind.CONFIDENT, (FaqHit(entry, 0.81),), TOPIC)
    ConsultationLog(store).answered(SENDER, "离婚孩子归谁", answer, town="花石镇")
    (counted,) = store.consultations
    assert (counted.kind, counted.topic, counted.faq_id, counted.town) == ("confident", "婚姻家庭", entry.id, "花石镇")
    assert SENDER not in counted.sender_hash and store.unanswered() == []


def test_choices_and_handoffs_count_under_the_classified_topic_and_are_kept(knowledge):
    store = InMemoryCaseStore()
    log = ConsultationLog(store)
    log.answered(SENDER, "老板不给钱", Answer(AnswerKind.SUGGEST, (FaqHit(knowledge.entries[0], 0.5),), TOPIC))
    log.answered(SENDER, "这个咋办", Answer(AnswerKind.NONE, (), None))
    assert [(c.kind, c.topic, c.faq_id) for c in store.consultations] == [
        ("suggest", "劳动纠纷", None),
        ("none", None, None),
    ]
    assert sorted(q.reason for q in store.unanswered()) == ["low_confidence", "none"]
