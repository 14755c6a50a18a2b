"""The real-style evaluation: questions in citizens' own words, scored as the bot would answer them.

``knowledge_base/eval/real_style/{dev,test}.jsonl`` hold ``{"query", "faq_id", "style"}`` lines;
``faq_id`` is the entry that resolves the question or ``"none"`` when no entry does (the bot should
hand over rather than pretend). Thresholds are chosen on ``dev`` only; ``test`` is for reporting.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain import AnswerKind, FaqHit, RetrievalResult
from bot.retrieval.faq import Thresholds, decide

if TYPE_CHECKING:
    from bot.retrieval.faq import FaqRetriever

SPLITS = ("dev", "test")
NONE = "none"


@dataclass(frozen=True)
class EvalQuestion:
    query: str
    faq_id: str | None  # None: no entry resolves it
    style: str = ""


def read_questions(kb_dir: Path, split: str) -> list[EvalQuestion]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    path = kb_dir / "eval" / "real_style" / f"{split}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [EvalQuestion(r["query"], None if r["faq_id"] == NONE else r["faq_id"], r.get("style", "")) for r in rows]


@dataclass(frozen=True)
class Judged:
    """One question with the bot's ranking and decision."""

    question: EvalQuestion
    hits: tuple[FaqHit, ...]
    result: RetrievalResult

    @property
    def rank(self) -> int | None:
        ids = [h.entry.id for h in self.hits]
        return ids.index(self.question.faq_id) + 1 if self.question.faq_id in ids else None

    @property
    def shown(self) -> list[str]:
        return [h.entry.id for h in self.result.hits]


def judge(questions: Iterable[EvalQuestion], retriever: FaqRetriever) -> list[Judged]:
    """Rank and decide each question as the bot does (the published index and its thresholds)."""
    out = []
    for q in questions:
        hits = retriever.search(q.query, 10)
        out.append(Judged(q, tuple(hits), retriever.index.decide(hits)))
    return out


def redecide(judged: Sequence[Judged], t: Thresholds) -> list[Judged]:
    """The same rankings decided with other thresholds."""
    return [replace(j, result=decide(t, list(j.hits))) for j in judged]


def figures(judged: Sequence[Judged]) -> dict:
    """Rank 1 / top 3 on the labelled questions; what the bot did with every question."""
    n = len(judged)
    labelled = [j for j in judged if j.question.faq_id]
    unanswerable = [j for j in judged if not j.question.faq_id]
    direct = [j for j in judged if j.result.kind is AnswerKind.CONFIDENT]
    suggest = [j for j in judged if j.result.kind is AnswerKind.SUGGEST]
    handoff = [j for j in judged if j.result.kind is AnswerKind.NONE]
    right_direct = [j for j in direct if j.question.faq_id and j.shown[:1] == [j.question.faq_id]]
    labelled_suggest = [j for j in suggest if j.question.faq_id]

    def share(part: Sequence, whole: Sequence) -> float | None:
        return round(len(part) / len(whole), 4) if whole else None

    return {
        "questions": n,
        "labelled": len(labelled),
        "none": len(unanswerable),
        "rank1": share([j for j in labelled if j.rank == 1], labelled),
        "top3": share([j for j in labelled if j.rank is not None and j.rank <= 3], labelled),
        "top10": share([j for j in labelled if j.rank is not None], labelled),
        "direct": share(direct, judged),
        "suggest": share(suggest, judged),
        "handoff": share(handoff, judged),
        "direct_precision": share(right_direct, direct),
        "suggest_holds_answer": share([j for j in labelled_suggest if j.question.faq_id in j.shown], labelled_suggest),
        "wrong_answers": share([j for j in direct if j not in right_direct], judged),
        "none_handed_over": share([j for j in unanswerable if j.result.kind is AnswerKind.NONE], unanswerable),
        "none_answered_directly": share(
            [j for j in unanswerable if j.result.kind is AnswerKind.CONFIDENT], unanswerable
        ),
        "resolved": share(right_direct + [j for j in labelled_suggest if j.question.faq_id in j.shown], judged),
    }


def choose_thresholds(
    judged: Sequence[Judged], base: Thresholds, target_precision: float = 0.92, none_target: float = 0.80
) -> Thresholds:
    """Pick (confident, margin, suggest) on dev: the most direct answers at ``target_precision``,
    then the lowest suggestion floor that still hands over ``none_target`` of the unanswerable ones.
    """
    best, best_key = base, (-1.0, 0.0)
    confidents = [round(0.30 + 0.01 * i, 2) for i in range(56)]
    margins = [0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15]
    for confident, margin in product(confidents, margins):
        t = replace(base, confident=confident, margin=margin, suggest=min(base.suggest, confident))
        f = figures(redecide(judged, t))
        if f["direct_precision"] is None or f["direct_precision"] < target_precision:
            continue
        key = (f["direct"] or 0.0, -confident)
        if key > best_key:
            best, best_key = t, key
    floors = sorted({round(0.10 + 0.01 * i, 2) for i in range(int((best.confident - 0.10) * 100) + 1)})
    for floor in floors:  # lowest floor first: more suggestions, fewer handoffs
        t = replace(best, suggest=floor)
        f = figures(redecide(judged, t))
        if (f["none_handed_over"] or 0.0) >= none_target:
            return t
    return replace(best, suggest=best.confident)
