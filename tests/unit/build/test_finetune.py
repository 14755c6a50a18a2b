"""The fine-tuning build step's data: triples from the FAQ only, a hash that names data and settings."""

from __future__ import annotations

from dataclasses import replace

from bot.build.finetune import MANIFEST, FinetuneConfig, data_hash, is_current, training_examples


def test_examples_pair_paraphrases_with_their_question_and_a_neighbour(knowledge, library, fake_embedder):
    entries = knowledge.entries[:30]
    vectors = fake_embedder.encode([e.question for e in entries])
    examples = training_examples(entries, library, vectors, FinetuneConfig())
    first = entries[0]
    mine = [e for e in examples if e.positive == f"query: {first.question}"]
    assert {e.anchor for e in mine} == {f"query: {p}" for p in first.paraphrases}
    assert all(e.negative != e.positive and e.negative.startswith("query: ") for e in mine)
    passages = [e for e in examples if e.positive.startswith("passage: ")]
    assert passages and all(len(e.positive) <= len("passage: ") + FinetuneConfig().passage_chars for e in passages)


def test_the_hash_changes_with_data_or_settings_and_marks_a_build_current(tmp_path, knowledge, library, fake_embedder):
    entries = knowledge.entries[:10]
    examples = training_examples(
        entries, library, fake_embedder.encode([e.question for e in entries]), FinetuneConfig()
    )
    base = data_hash("base", examples, FinetuneConfig())
    assert base != data_hash("base", examples[1:], FinetuneConfig())
    assert base != data_hash("base", examples, replace(FinetuneConfig(), max_steps=1))
    assert not is_current(tmp_path, base)
    (tmp_path / MANIFEST).write_text(f'{{"data_sha256": "{base}"}}', encoding="utf-8")
    assert is_current(tmp_path, base) and not is_current(tmp_path, base[::-1])
