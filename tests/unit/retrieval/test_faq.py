import json

import pytest

from bot.domain import AnswerKind
from bot.errors import IndexMismatchError
from bot.knowledge import kb
from bot.retrieval.embedding import HashingEmbedder
from bot.retrieval.faq import FaqIndex, FaqRetriever, current_version, publish, versions


def test_an_indexed_paraphrase_is_found_first(fake_index_root, fake_embedder, knowledge):
    retriever = FaqRetriever(fake_index_root, fake_embedder)
    entry = knowledge.entries[3]
    hits = retriever.search(entry.paraphrases[0])
    assert hits[0].entry.id == entry.id
    assert retriever.answer(entry.question).kind is AnswerKind.CONFIDENT


def test_nonsense_is_not_answered(fake_index_root, fake_embedder):
    retriever = FaqRetriever(fake_index_root, fake_embedder)
    assert retriever.answer("zzzz qqqq").kind is AnswerKind.NONE
    assert retriever.search("   ") == []


def test_loader_refuses_another_model(fake_index_root):
    version = current_version(fake_index_root)
    with pytest.raises(IndexMismatchError):
        FaqIndex.load(fake_index_root / version, "some-other-model")


def test_publishing_swaps_without_restart_and_rolls_back(tmp_path, knowledge, library):
    embedder = HashingEmbedder()
    first = FaqIndex.build(knowledge, embedder).save(tmp_path)
    retriever = FaqRetriever(tmp_path, embedder, check_every=0)
    assert retriever.get("new-entry-x") is None
    extra = kb.KnowledgeBase(
        [
            *knowledge.entries,
            kb.entry_from_dict(
                {
                    "id": "new-entry-x",
                    "topic": "综合咨询",
                    "question": "司法局周末上班吗",
                    "paraphrases": ["a", "b", "c", "d", "e"],
                    "answer": "见服务目录。",
                    "citations": [{"law": "中华人民共和国法律援助法", "article": 1}],
                    "reviewed_on": "2026-11-26",
                }
            ),
        ]
    )
    second = FaqIndex.build(extra, embedder).save(tmp_path)
    assert retriever.get("new-entry-x") is not None  # reached the running retriever
    assert versions(tmp_path) == sorted([first.name, second.name])
    publish(tmp_path, first.name)
    assert retriever.get("new-entry-x") is None
    manifest = json.loads((second / "manifest.json").read_text())
    assert manifest["embedding_model"] == embedder.name and manifest["entries"] == len(extra)
