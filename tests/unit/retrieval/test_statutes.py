"""Statute search: fusion of dense, lexical and FAQ signals; persistence; the "which law" cues."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.domain import Citation, FaqEntry, FaqHit
from bot.errors import IndexMismatchError, NotFoundError
from bot.knowledge.laws import StatuteLibrary
from bot.retrieval.statutes import StatuteIndex, StatuteSearch, asks_for_law, law_question

CODE = "中华人民共和国民法典"
LABOUR = "中华人民共和国劳动合同法"


@pytest.fixture
def small_library(library) -> StatuteLibrary:
    picked = {CODE: [1077, 1079, 1084, 1127, 680], LABOUR: [30, 38, 47, 82], "中华人民共和国律师法": [3]}
    return StatuteLibrary(
        {law: {(n, ""): library.article(law, n).text for n in numbers} for law, numbers in picked.items()},
        {(law, (n, "")): library.article(law, n).chapter for law, numbers in picked.items() for n in numbers},
    )


@pytest.fixture
def index(small_library, fake_embedder) -> StatuteIndex:
    return StatuteIndex.build(small_library, fake_embedder)


def search(index, embedder, query, faq_hits=()):
    return index.search(embedder.encode([query])[0], query, 5, faq_hits)


def test_outdated_laws_are_not_indexed(index):
    assert len(index) == 9 and all(a.law != "中华人民共和国律师法" for a in index.articles)


def test_words_of_the_article_find_it(index, fake_embedder):
    hits = search(index, fake_embedder, "任何一方不愿意离婚的，可以撤回离婚登记申请")
    assert (hits[0].article.law, hits[0].article.number) == (CODE, 1077)
    assert hits[0].score >= hits[-1].score


def test_a_named_law_is_preferred(index, fake_embedder):
    hits = search(index, fake_embedder, "劳动合同法 规定")
    assert {h.article.law for h in hits[:4]} == {LABOUR}
    assert {h.article.law for h in search(index, fake_embedder, "婚姻法怎么规定")[:3]} == {CODE}


def test_faq_hits_lend_their_citations_lay_words(index, fake_embedder):
    entry = FaqEntry(
        id="x",
        topic="劳动纠纷",
        question="老板不发工资",
        paraphrases=(),
        answer="",
        citations=(Citation(LABOUR, 30), Citation(LABOUR, 82)),
        reviewed_on=dt.date(2026, 11, 26),
    )
    plain = search(index, fake_embedder, "老板冇发钱")
    helped = search(index, fake_embedder, "老板冇发钱", [FaqHit(entry, 0.9)])
    assert [h.article.number for h in helped[:2]] == [30, 82]
    assert helped[0].faq == pytest.approx(0.9) and helped[0].score > plain[0].score


def test_save_and_load_check_model_and_texts(index, small_library, fake_embedder, tmp_path):
    folder = tmp_path / "statutes"
    index.save(folder)
    index.save(folder)  # replacing a published index works
    loaded = StatuteIndex.load(folder, small_library, fake_embedder.name)
    query = "离婚冷静期"
    assert [h.article for h in search(loaded, fake_embedder, query)] == [
        h.article for h in search(index, fake_embedder, query)
    ]
    with pytest.raises(IndexMismatchError):
        StatuteIndex.load(folder, small_library, "another-model")
    changed = StatuteLibrary({CODE: {(1077, ""): "改过的条文"}})
    with pytest.raises(IndexMismatchError):
        StatuteIndex.load(folder, changed, fake_embedder.name)
    for articles in folder.rglob("articles.json"):  # an edited index naming an article the texts lack
        articles.write_text(json.dumps([[CODE, 99999, ""]]), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="lack"):
        StatuteIndex.load(folder, small_library, fake_embedder.name)
    with pytest.raises(NotFoundError):
        StatuteIndex.load(tmp_path / "missing", small_library, fake_embedder.name)


def test_search_use_case_and_empty_query(index, fake_embedder):
    use_case = StatuteSearch(index, fake_embedder)
    assert use_case.search("  ") == []
    assert use_case.search("解除劳动合同 经济补偿")[0].article.law == LABOUR
    assert [h.article.number for h in index.lexical_search("经济补偿按劳动者在本单位工作的年限", 1)] == [47]


@pytest.mark.parametrize(
    "text, asks, has_subject",
    [
        ("离婚冷静期是哪条规定的", True, True),
        ("拖欠工资法律怎么规定", True, True),
        ("打人要拘留几天 法律依据", True, True),
        ("法律依据是什么", True, False),
        ("出自哪部法律", True, False),
        ("老板三个月冇发工资了", False, True),
    ],
)
def test_which_law_cues(text, asks, has_subject):
    assert asks_for_law(text) is asks and law_question(text) is has_subject


@pytest.mark.model
def test_real_statute_search(real_statute_search):
    """The shipped index with the real model answers lay and legal wording."""

    def top(query, k):
        return [(h.article.law, h.article.number) for h in real_statute_search.search(query, k)]

    assert (CODE, 1077) in top("离婚冷静期是哪条规定的", 3)
    assert any(
        law in (LABOUR, "保障农民工工资支付条例", "中华人民共和国劳动法") for law, _ in top("拖欠工资法律怎么规定", 3)
    )
