import json
from collections import Counter

import yaml

from bot.domain import TOPICS
from bot.knowledge import kb


def test_shipped_faq_is_valid_and_large_enough(knowledge, library):
    _, problems = kb.validate(kb.Path(__file__).resolve().parents[3] / "knowledge_base" / "faq", library)
    assert problems == []
    assert len(knowledge) >= 1000
    assert all(len(e.paraphrases) >= 8 for e in knowledge.entries)
    per_topic = Counter(e.topic for e in knowledge.entries)
    assert set(per_topic) == set(TOPICS) and min(per_topic.values()) >= 20


def test_every_office_an_answer_names_is_in_the_directory(knowledge, directory):
    names = directory.office_names()
    assert [p for e in knowledge.entries for p in kb.office_problems(e, names)] == []


def _write(tmp_path, entries):
    (tmp_path / "x.yml").write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    return tmp_path


GOOD = {
    "id": "test-entry",
    "topic": "劳动纠纷",
    "subtopic": "欠薪",
    "question": "老板欠工资怎么办",
    "paraphrases": [
        "欠薪咋办",
        "工资不发",
        "老板不给钱",
        "拖欠工资",
        "工钱要不到",
        "我在镇上的厂里做了半年事，老板一直讲资金周转不过来，拖着不发工资，屋里等着用钱，我该怎么办",
        "在工地上跟包工头做了三个多月的事，结账的时候他讲上面冇拨款，叫我们等，我们能去哪里告",
        "老公在外面打工，老板欠了他两个月工资冇给，电话也不接了，屋里等钱用，有么子办法讨回来",
    ],
    "answer": "可以向劳动保障监察投诉。",
    "citations": [{"law": "中华人民共和国劳动合同法", "article": 30}],
    "reviewed_on": "2026-11-26",
}


def test_problems_name_the_entry_and_field(tmp_path, library):
    bad = dict(
        GOOD,
        id="bad-entry",
        topic="不存在",
        paraphrases=["一"],
        answer="请拨打0731-12345678，地址建设路12号，上午8:30-12:00办公",
        citations=[{"law": "中华人民共和国律师法", "article": 3}],
    )
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
    assert set(row) <= {
        "id",
        "topic",
        "subtopic",
        "question",
        "paraphrases",
        "answer",
        "citations",
        "reviewed_on",
        "facts",
    }
    assert all(set(c) <= {"law", "article", "quote"} and isinstance(c["article"], (int, str)) for c in row["citations"])
    assert any("quote" in c for c in row["citations"])
    assert kb.entry_from_dict(json.loads(json.dumps(row, ensure_ascii=False))) == knowledge.entries[0]


def test_near_duplicates_are_named(knowledge, fake_embedder):
    entries = knowledge.entries[:20]
    copy = kb.entry_from_dict(
        kb.entry_to_dict(entries[3]) | {"id": "restated-copy", "question": entries[3].question + "？"}
    )
    problems = kb.near_duplicates(kb.KnowledgeBase([*entries, copy]), fake_embedder)
    assert [(p.entry_id, p.field) for p in problems] == [("restated-copy", "question")]
    assert entries[3].id in problems[0].message
    assert kb.near_duplicates(kb.KnowledgeBase(entries), fake_embedder) == []


def test_narrative_paraphrases_and_facts_are_checked(tmp_path, library):
    short = dict(GOOD, id="short-only", paraphrases=[f"欠薪{i}" for i in range(8)])
    facts = dict(GOOD, id="with-facts", facts={"materials": "身份证", "where": "打0731-12345678", "fee": "x"})
    _, problems = kb.validate(_write(tmp_path, [short, facts]), library)
    text = "\n".join(map(str, problems))
    assert "short-only: paraphrases: needs at least 3 long narrative ones" in text
    assert "with-facts: facts: must be a mapping with keys among" in text


def test_inserted_articles_and_law_status(tmp_path, library):
    inserted = dict(
        GOOD,
        id="drunk-driving",
        citations=[{"law": "中华人民共和国刑法", "article": "133之一", "quote": "在道路上驾驶机动车"}],
    )
    uncertain_alone = dict(GOOD, id="uncertain-alone", citations=[{"law": "法律援助条例", "article": 1}])
    uncertain_beside = dict(
        GOOD,
        id="uncertain-beside",
        citations=[{"law": "法律援助条例", "article": 1}, {"law": "中华人民共和国法律援助法", "article": 31}],
    )
    knowledge, problems = kb.validate(_write(tmp_path, [inserted, uncertain_alone, uncertain_beside]), library)
    assert [str(p) for p in problems] == [
        "uncertain-alone: citations: a text of uncertain status may be cited only beside a current one"
    ]
    assert knowledge.get("drunk-driving").citations[0].label == "《刑法》第133条之一"
    assert kb.entry_to_dict(knowledge.get("drunk-driving"))["citations"][0]["article"] == "133之一"


def test_a_broken_file_is_reported_and_the_others_still_checked(tmp_path, library):
    _write(tmp_path, [GOOD])
    (tmp_path / "broken.yml").write_text("- id: x\n  question: [unclosed\n", encoding="utf-8")
    knowledge, problems = kb.validate(tmp_path, library)
    assert [p.entry_id for p in problems] == ["broken.yml"] and len(knowledge) == 1


def test_version_changes_with_content(tmp_path, library):
    v1 = kb.load(_write(tmp_path, [GOOD]), library).version
    v2 = kb.load(_write(tmp_path, [dict(GOOD, answer="改过的答案。")]), library).version
    assert v1 != v2
