"""The real-style evaluation: figures, threshold choice on dev, and the shipped splits."""

from __future__ import annotations

from pathlib import Path

from bot.domain import AnswerKind, FaqHit
from bot.retrieval import evaluation
from bot.retrieval.evaluation import EvalQuestion, Judged
from bot.retrieval.faq import Thresholds, decide

KB_DIR = Path(__file__).resolve().parents[3] / "knowledge_base"


def _hits(knowledge, scores: list[tuple[str, float]]) -> list[FaqHit]:
    return [FaqHit(knowledge.get(entry_id), score) for entry_id, score in scores]


def _judged(knowledge, rows, t: Thresholds) -> list[Judged]:
    out = []
    for faq_id, scores in rows:
        hits = _hits(knowledge, scores)
        out.append(Judged(EvalQuestion("q", faq_id), tuple(hits), decide(t, hits)))
    return out


def test_figures_count_right_wrong_and_unanswerable(knowledge):
    a, b, c = (e.id for e in knowledge.entries[:3])
    t = Thresholds(confident=0.6, suggest=0.3, margin=0.05)
    judged = _judged(
        knowledge,
        [
            (a, [(a, 0.9), (b, 0.2)]),  # right, direct
            (b, [(a, 0.9), (b, 0.2)]),  # wrong, direct
            (c, [(b, 0.5), (c, 0.45)]),  # suggestion holding the answer at rank 2
            (None, [(a, 0.1), (b, 0.05)]),  # unanswerable, handed over
        ],
        t,
    )
    f = evaluation.figures(judged)
    assert (f["rank1"], f["top3"]) == (round(1 / 3, 4), 1.0)
    assert (f["direct"], f["suggest"], f["handoff"]) == (0.5, 0.25, 0.25)
    assert f["direct_precision"] == 0.5 and f["wrong_answers"] == 0.25
    assert f["suggest_holds_answer"] == 1.0 and f["none_handed_over"] == 1.0


def test_thresholds_are_chosen_for_precision_then_for_handing_over(knowledge):
    a, b = (e.id for e in knowledge.entries[:2])
    rows = [(a, [(a, 0.8), (b, 0.3)])] * 9 + [(b, [(a, 0.55), (b, 0.5)])] + [(None, [(a, 0.4), (b, 0.1)])] * 5
    judged = _judged(knowledge, rows, Thresholds())
    chosen = evaluation.choose_thresholds(judged, Thresholds())
    tuned = evaluation.figures(evaluation.redecide(judged, chosen))
    assert tuned["direct_precision"] == 1.0 and tuned["direct"] == round(9 / 15, 4)
    assert tuned["none_handed_over"] >= 0.8


def test_shipped_splits_are_apart_and_label_real_entries(knowledge):
    dev, test = (evaluation.read_questions(KB_DIR, s) for s in evaluation.SPLITS)
    assert len(dev) + len(test) >= 800 and not {q.query for q in dev} & {q.query for q in test}
    ids = {e.id for e in knowledge.entries}
    for split in (dev, test):
        assert all(q.faq_id is None or q.faq_id in ids for q in split)
        none_share = sum(q.faq_id is None for q in split) / len(split)
        assert 0.12 <= none_share <= 0.3
        assert sum(len(q.query) >= 40 for q in split) / len(split) >= 0.5


def test_decide_gives_the_three_outcomes(knowledge):
    a, b = (e.id for e in knowledge.entries[:2])
    t = Thresholds(confident=0.6, suggest=0.3, margin=0.05)
    assert decide(t, _hits(knowledge, [(a, 0.7), (b, 0.2)])).kind is AnswerKind.CONFIDENT
    assert decide(t, _hits(knowledge, [(a, 0.62), (b, 0.6)])).kind is AnswerKind.SUGGEST
    assert decide(t, _hits(knowledge, [(a, 0.2), (b, 0.1)])).kind is AnswerKind.NONE
