import json
from collections import Counter

import yaml

from legal_triage import kb
from legal_triage.domain import TOPICS


def test_shipped_faq_is_valid_and_large_enough(knowledge, library):
    _, problems = kb.validate(kb.Path(__file__).resolve().parents[1] / "knowledge_base" / "faq", library)
    assert problems == []
    assert len(knowledge) >= 250
    assert all(len(e.paraphrases) >= 6 for e in knowledge.entries)
    per_topic = Counter(e.topic for e in knowledge.entries)
    assert set(per_topic) == set(TOPICS) and min(per_topic.values()) >= 6


def _write(tmp_path, entries):
    (tmp_path / "x.yml").write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    return tmp_path


GOOD = {"id": "test-entry", "topic": "劳动纠纷", "subtopic": "欠薪", "question": "老板欠工资怎么办",
        "paraphrases": ["欠薪咋办", "工资不发", "老板不给钱", "拖欠工资", "工钱要不到", "做了事冇拿到钱"],
        "answer": "可以向劳动保障监察投诉。", "citations": [{"law": "中华人民共和国劳动合同法", "article": 30}],
        "reviewed_on": "2026-11-26"}


def test_problems_name_the_entry_and_field(tmp_path, library):
    bad = dict(GOOD, id="bad-entry", topic="不存在", paraphrases=["一"],
               answer="请拨打0731-12345678，地址建设路12号，上午8:30-12:00办公",
               citations=[{"law": "中华人民共和国律师法", "article": 3}])
    missing = {k: v for k, v in GOOD.items() if k != "answer"} | {"id": "missing-answer"}
    _, problems = kb.validate(_write(tmp_path, [GOOD, bad, missing]), library)
    text = "\n".join(map(str, problems))
    assert "bad-entry: topic" in text
    assert "bad-entry: paraphrases" in text
    assert "bad-entry: answer: contains a local-looking phone number" in text
    assert "bad-entry: answer: contains a street address" in text
    assert "bad-entry: answer: contains opening hours" in text
    assert "bad-entry: citations" in text and "outdated" in text
    assert "missing-answer: answer: missing field" in text
    assert "test-entry" not in text


def test_export_format_keeps_everything(knowledge):
    row = kb.entry_to_dict(knowledge.entries[0])
    assert set(row) == {"id", "topic", "subtopic", "question", "paraphrases", "answer", "citations", "reviewed_on"}
    assert all(set(c) <= {"law", "article", "quote"} and isinstance(c["article"], int) for c in row["citations"])
    assert any("quote" in c for c in row["citations"])
    assert kb.entry_from_dict(json.loads(json.dumps(row, ensure_ascii=False))) == knowledge.entries[0]


def test_near_duplicates_are_named(knowledge, fake_embedder):
    entries = knowledge.entries[:20]
    copy = kb.entry_from_dict(kb.entry_to_dict(entries[3]) | {"id": "restated-copy",
                                                              "question": entries[3].question + "？"})
    problems = kb.near_duplicates(kb.KnowledgeBase([*entries, copy]), fake_embedder)
    assert [(p.entry_id, p.field) for p in problems] == [("restated-copy", "question")]
    assert entries[3].id in problems[0].message
    assert kb.near_duplicates(kb.KnowledgeBase(entries), fake_embedder) == []


def test_version_changes_with_content(tmp_path, library):
    v1 = kb.load(_write(tmp_path, [GOOD]), library).version
    v2 = kb.load(_write(tmp_path, [dict(GOOD, answer="改过的答案。")]), library).version
    assert v1 != v2
