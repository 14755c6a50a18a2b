"""Statute search: every article of every stored law, found by the same hybrid retrieval as the FAQ.

An article is scored from three signals, fused like the FAQ scores:

* dense: E5 similarity between the question (``query:``) and the article (``passage:``, with its
  law and chapter so that "婚姻家庭编" context reaches the vector);
* lexical: character-n-gram BM25 over the same text;
* the FAQ: citizens' words rarely match the statute's, but our FAQ entries are written in their
  words and cite articles. The question is searched in the published FAQ index and every article
  cited by a hit inherits that hit's score. A new FAQ version therefore improves statute search
  without rebuilding this index.

A law named in the question ("劳动合同法", or a lay name such as "婚姻法" or "交通法") boosts that
law's articles (or the part of the 民法典 that replaced it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.domain import Article, FaqHit, StatuteHit
from bot.errors import IndexMismatchError, NotFoundError
from bot.knowledge.laws import StatuteLibrary
from bot.retrieval.embedding import Embedder, encode_all
from bot.retrieval.lexical import Bm25
from bot.retrieval.vector_index import current_version, publish

if TYPE_CHECKING:  # pragma: no cover
    from bot.retrieval.faq import FaqRetriever

CIVIL_CODE = "中华人民共和国民法典"
#: Lay and former names of laws → (title, chapter prefix or ""). Short titles are added automatically.
LAW_ALIASES: dict[str, tuple[str, str]] = {
    "婚姻法": (CIVIL_CODE, "婚姻家庭编"),
    "继承法": (CIVIL_CODE, "继承编"),
    "合同法": (CIVIL_CODE, "合同编"),
    "物权法": (CIVIL_CODE, "物权编"),
    "侵权责任法": (CIVIL_CODE, "侵权责任编"),
    "担保法": (CIVIL_CODE, ""),
    "民法通则": (CIVIL_CODE, "总则"),
    "民法总则": (CIVIL_CODE, "总则"),
    "收养法": (CIVIL_CODE, "婚姻家庭编"),
    "交通法": ("中华人民共和国道路交通安全法", ""),
    "道交法": ("中华人民共和国道路交通安全法", ""),
    "交规": ("中华人民共和国道路交通安全法", ""),
    "工伤条例": ("工伤保险条例", ""),
    "治安处罚法": ("中华人民共和国治安管理处罚法", ""),
    "治安法": ("中华人民共和国治安管理处罚法", ""),
    "消法": ("中华人民共和国消费者权益保护法", ""),
    "消费者保护法": ("中华人民共和国消费者权益保护法", ""),
    "民诉法": ("中华人民共和国民事诉讼法", ""),
    "刑诉法": ("中华人民共和国刑事诉讼法", ""),
    "复议法": ("中华人民共和国行政复议法", ""),
    "行诉法": ("中华人民共和国行政诉讼法", ""),
    "反家暴法": ("中华人民共和国反家庭暴力法", ""),
    "调解法": ("中华人民共和国人民调解法", ""),
    "劳动仲裁法": ("中华人民共和国劳动争议调解仲裁法", ""),
    "土地承包法": ("中华人民共和国农村土地承包法", ""),
    "农民工工资条例": ("保障农民工工资支付条例", ""),
    "援助法": ("中华人民共和国法律援助法", ""),
}
#: Words that ask for the law itself rather than for advice.
LAW_REQUEST = re.compile(
    r"哪一?条|哪部法|哪个法|什么法|啥法|法律(上|里|是)?(怎么|咋|如何)(规定|说|讲)|法律(依据|规定)|法条|条文|"
    r"有(什么|么子|冇得|没有)规定|规定在哪|依据是|第几条"
)


@dataclass(frozen=True)
class StatuteWeights:
    """Fusion weights, chosen by grid search on the development questions
    (``knowledge_base/dev/laws_dev.jsonl``, ``tools/tune_statute_weights.py``: MRR@10 0.650 → 0.672,
    hit@10 0.835 → 0.848), never on the evaluation questions that ``make bench`` reports."""

    dense: float = 0.30
    lexical: float = 0.30
    faq: float = 0.35
    dense_floor: float = 0.82  # E5 query-passage cosines crowd into this band
    dense_ceiling: float = 0.95
    law_bonus: float = 0.05
    faq_hits: int = 8


PASSAGE_CHARS = 256


def asks_for_law(text: str) -> bool:
    """Whether the citizen asks for the statute itself ("哪条规定的", "法律怎么规定")."""
    return bool(LAW_REQUEST.search(text))


_FILLER = re.compile(
    r"[^\u4e00-\u9fff]|[的了吗呢吧啊呀么是这那个有没冇得啥什哪部条给我看发下请问你说能把出自根据具体依规定法律呢一]"
)


def law_question(text: str) -> bool:
    """Whether anything is left to search once the "which law" words are removed
    ("离婚冷静期是哪条规定的" → yes; a bare "法律依据是什么" → no: it refers to the last answer)."""
    return len(_FILLER.sub("", LAW_REQUEST.sub("", text))) >= 2


def _passage(article: Article) -> str:
    chapter = re.sub(r"\s+", " ", article.chapter.replace(">", " "))
    return f"{article.law.removeprefix('中华人民共和国')} {chapter} {article.label} {article.text}"


def library_fingerprint(library: StatuteLibrary) -> str:
    digest = hashlib.sha256()
    for article in library:
        digest.update(f"{article.law}\t{article.number}{article.suffix}\t{article.text}\n".encode())
    return digest.hexdigest()[:16]


class StatuteIndex:
    """An immutable searchable snapshot of all citable articles."""

    def __init__(
        self,
        articles: list[Article],
        vectors: np.ndarray,
        model_name: str,
        fingerprint: str,
        weights: StatuteWeights | None = None,
    ) -> None:
        from bot.retrieval.vector_index import build_vector_index

        self.articles = articles
        self.model_name = model_name
        self.fingerprint = fingerprint
        self.weights = weights or StatuteWeights()
        # kept for save(): an approximate index cannot always give its vectors back
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._faiss = build_vector_index(self._vectors)
        self._bm25 = Bm25([_passage(a) for a in articles])
        self._position = {a.key: i for i, a in enumerate(articles)}
        self._aliases = dict(LAW_ALIASES)
        for law in {a.law for a in articles}:
            self._aliases.setdefault(law.removeprefix("中华人民共和国"), (law, ""))
        self._alias_order = sorted(self._aliases, key=len, reverse=True)  # longest name first
        self._law_rows: dict[tuple[str, str], np.ndarray] = {}

    @classmethod
    def build(cls, library: StatuteLibrary, embedder: Embedder, progress: bool = False) -> StatuteIndex:
        articles = [a for a in library if library.citable(a.law)]
        # The first couple of hundred characters carry an article's subject; embedding the long tail
        # of the longest articles would triple the build time for little gain (BM25 sees it all).
        vectors = encode_all(embedder, [_passage(a)[:PASSAGE_CHARS] for a in articles], "passage", progress)
        return cls(articles, vectors, embedder.name, library_fingerprint(library))

    def __len__(self) -> int:
        return len(self.articles)

    # ---- searching ------------------------------------------------------------------------
    def _named_laws(self, query: str) -> np.ndarray:
        """1.0 for articles of a law (or part of the 民法典) the question names, else 0."""
        bonus = np.zeros(len(self.articles), dtype=np.float32)
        for alias in self._alias_order:
            if alias not in query:
                continue
            law, chapter = self._aliases[alias]
            rows = self._law_rows.get((law, chapter))
            if rows is None:
                rows = np.array(
                    [i for i, a in enumerate(self.articles) if a.law == law and a.chapter.startswith(chapter)],
                    dtype=np.int64,
                )
                self._law_rows[(law, chapter)] = rows
            bonus[rows] = 1.0
            query = query.replace(alias, "")
        return bonus

    def articles_dense(self, query_vector: np.ndarray, top: int = 200) -> np.ndarray:
        """Cosine of the question with its ``top`` nearest articles (0 for the rest)."""
        sims, ids = self._faiss.search(
            np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32), min(len(self.articles), top)
        )
        dense = np.zeros(len(self.articles), dtype=np.float32)
        dense[ids[0][ids[0] >= 0]] = sims[0][ids[0] >= 0]
        return dense

    def _faq_scores(self, faq_hits: Iterable) -> np.ndarray:
        """Every article cited by an FAQ hit inherits the hit's score (first citations a bit more)."""
        scores = np.zeros(len(self.articles), dtype=np.float32)
        for hit in faq_hits:
            for rank, citation in enumerate(hit.entry.citations):
                row = self._position.get(citation.key)
                if row is not None:
                    scores[row] = max(scores[row], hit.score * (1.0 - 0.05 * min(rank, 4)))
        return scores

    def search(self, query_vector: np.ndarray, query: str, k: int = 10, faq_hits: Iterable = ()) -> list[StatuteHit]:
        if not self.articles or not query.strip():
            return []
        w = self.weights
        dense = self.articles_dense(query_vector)
        dense_scaled = np.clip((dense - w.dense_floor) / (w.dense_ceiling - w.dense_floor), 0.0, 1.0)
        lexical = np.clip(self._bm25.normalised_scores(query), 0.0, 1.0)
        faq = self._faq_scores(faq_hits)
        fused = w.dense * dense_scaled + w.lexical * lexical + w.faq * faq + w.law_bonus * self._named_laws(query)
        order = np.argsort(-fused)[:k]
        return [
            StatuteHit(self.articles[i], float(fused[i]), float(dense[i]), float(lexical[i]), float(faq[i]))
            for i in order
        ]

    def lexical_search(self, query: str, k: int = 10) -> list[StatuteHit]:
        """The baseline: BM25 alone."""
        scores = self._bm25.normalised_scores(query)
        order = np.argsort(-scores)[:k]
        return [StatuteHit(self.articles[i], float(scores[i]), 0.0, float(scores[i])) for i in order]

    # ---- persistence ----------------------------------------------------------------------
    def save(self, root: Path) -> Path:
        """Write a new version folder under ``root``, then publish it by the atomic pointer swap the FAQ
        index uses (a reader sees the old index or the new one, never a half-written one)."""
        root.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
        np.save(tmp / "vectors.npy", self._vectors, allow_pickle=False)
        (tmp / "articles.json").write_text(
            json.dumps([list(a.key) for a in self.articles], ensure_ascii=False), encoding="utf-8"
        )
        manifest = {
            "embedding_model": self.model_name,
            "laws_fingerprint": self.fingerprint,
            "articles": len(self.articles),
            "dim": self._faiss.d,
            "built_at": stamp,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        final = root / f"v{stamp}-{self.fingerprint[:12]}"
        tmp.rename(final)
        publish(root, final.name)
        for stale in sorted(p for p in root.glob("v*") if p != final)[:-1]:  # keep the one before, for rollback
            shutil.rmtree(stale, ignore_errors=True)
        return final

    @classmethod
    def load(cls, root: Path, library: StatuteLibrary, expected_model: str) -> StatuteIndex:
        """Load the published version under ``root``."""
        try:
            folder = root / current_version(root)
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (NotFoundError, FileNotFoundError) as exc:
            raise NotFoundError(f"no statute index at {root}; run `legal-triage laws build`") from exc
        if manifest["embedding_model"] != expected_model:
            raise IndexMismatchError(
                f"statute index was built with {manifest['embedding_model']!r}, not "
                f"{expected_model!r}; run `legal-triage laws build`"
            )
        if manifest["laws_fingerprint"] != library_fingerprint(library):
            raise IndexMismatchError(
                "the statute texts changed since the index was built; run `legal-triage laws build`"
            )
        keys = json.loads((folder / "articles.json").read_text(encoding="utf-8"))
        articles = [article for key in keys if (article := library.article(*key)) is not None]
        if len(articles) != len(keys):  # the fingerprint matched, so only a hand-edited index gets here
            raise IndexMismatchError(
                "the statute index names articles the statute texts lack; run `legal-triage laws build`"
            )
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        return cls(articles, vectors, manifest["embedding_model"], manifest["laws_fingerprint"])


def is_current(root: Path, library: StatuteLibrary, model_name: str) -> bool:
    """Whether the published index was built from these texts with this model (reads manifests only)."""
    try:
        manifest = json.loads((root / current_version(root) / "manifest.json").read_text(encoding="utf-8"))
    except (NotFoundError, OSError, ValueError, KeyError):
        return False
    return manifest.get("embedding_model") == model_name and manifest.get("laws_fingerprint") == library_fingerprint(
        library
    )


class StatuteSearch:
    """The statute-search use case: embeds the question once, asks the FAQ for lay vocabulary."""

    def __init__(self, index: StatuteIndex, embedder: Embedder, faq: FaqRetriever | None = None) -> None:
        self.index = index
        self._embedder = embedder
        self._faq = faq

    def search(self, query: str, k: int = 10, faq_hits: Sequence[FaqHit] | None = None) -> list[StatuteHit]:
        """Articles for ``query``. ``faq_hits``: the FAQ's ranking of the same query when the caller
        already has it (at least ``weights.faq_hits`` long), so the FAQ is not searched twice."""
        if not query.strip():
            return []
        vector = self._embedder.encode([query], kind="query")[0]
        wanted = self.index.weights.faq_hits
        if faq_hits is None or len(faq_hits) < wanted:
            faq_hits = self._faq.search(query, k=wanted) if self._faq is not None else ()
        return self.index.search(vector, query, k, faq_hits[:wanted])
