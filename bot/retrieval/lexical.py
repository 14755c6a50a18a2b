"""Character n-gram BM25: the lexical half of hybrid retrieval.

Chinese has no spaces, and citizens misspell words, so overlapping character uni- and bi-grams
match better than word tokens. Scores are used relative to the best possible score of the
query (its self-match), which makes them comparable across queries.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]+")
#: Very common function characters that carry no topic.
_STOP = set("的了吗呢吧啊呀么我你他她它们是在有和就都也还要会能可以这那个怎么什么")


def char_ngrams(text: str) -> list[str]:
    """Unigrams (minus stop characters) and bigrams of the Chinese/alphanumeric runs."""
    grams: list[str] = []
    for run in _KEEP.findall(text.lower()):
        grams.extend(ch for ch in run if ch not in _STOP)
        grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams


class Bm25:
    """Okapi BM25 (Lucene's variant, from ``bm25s``) over documents given as character n-gram lists.

    A query term counts at most twice, so a question that repeats a word is not pulled towards
    documents that only share that word.
    """

    def __init__(self, docs: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        import bm25s

        self.size = len(docs)
        self._bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        tokenised = [char_ngrams(d) for d in docs]
        self._bm25.index(tokenised, show_progress=False)
        vocab = self._bm25.vocab_dict
        # Lucene's idf of each term (what a perfect match of that term scores at most).
        df: Counter[str] = Counter(term for grams in tokenised for term in set(grams))
        n = self.size
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items() if t in vocab}

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for the query."""
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t, qtf in Counter(char_ngrams(query)).items() if t in vocab for _ in range(min(qtf, 2))]
        if not ids or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def normalised_scores(self, query: str) -> np.ndarray:
        """Scores divided by the query's own information content, roughly in [0, 1]."""
        raw = self.scores(query)
        ceiling = sum(self._idf.get(t, 0.0) for t in set(char_ngrams(query)))
        return raw / ceiling if ceiling > 0 else raw
