"""Statute texts (copied into ``knowledge_base/laws``) and mechanical citation checks."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from legal_triage.domain import Article, Citation

#: Laws whose stored text is outdated: their article numbers must not be cited.
#: 律师法 in the data folder is the 2017 text; the law was amended in 2026.
UNCITABLE_LAWS: frozenset[str] = frozenset({"中华人民共和国律师法"})

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def chinese_number(text: str) -> int:
    """Parse an article number written in digits or Chinese numerals (``一千零七十九`` → 1079)."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[ch]
            current = 0
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + current


@dataclass(frozen=True)
class CitationProblem:
    citation: Citation
    message: str


class StatuteLibrary:
    """All articles of the statutes in one folder, keyed by (title, article number)."""

    def __init__(self, articles: dict[str, dict[int, str]], chapters: dict[tuple[str, int], str] | None = None) -> None:
        self._articles = articles
        self._chapters = chapters or {}

    @classmethod
    def load(cls, laws_dir: Path) -> "StatuteLibrary":
        articles: dict[str, dict[int, str]] = {}
        chapters: dict[tuple[str, int], str] = {}
        for path in sorted(laws_dir.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            articles[data["title"]] = {a["number"]: a["text"] for a in data["articles"]}
            chapters.update(((data["title"], a["number"]), a.get("chapter") or "") for a in data["articles"])
        return cls(articles, chapters)

    @property
    def titles(self) -> list[str]:
        return list(self._articles)

    def article(self, law: str, number: int) -> Article | None:
        text = self._articles.get(law, {}).get(number)
        return Article(law, number, text, self._chapters.get((law, number), "")) if text is not None else None

    def __iter__(self) -> Iterator[Article]:
        """Every article of every statute, laws in file order, articles in number order."""
        for law, texts in self._articles.items():
            for number in sorted(texts):
                yield Article(law, number, texts[number], self._chapters.get((law, number), ""))

    def __len__(self) -> int:
        return sum(len(t) for t in self._articles.values())

    def check(self, citation: Citation) -> CitationProblem | None:
        """Return what is wrong with a citation, or ``None`` when it is valid."""
        if citation.law in UNCITABLE_LAWS:
            return CitationProblem(citation, f"{citation.law} is outdated here (amended 2026): do not cite its articles")
        if citation.law not in self._articles:
            return CitationProblem(citation, f"unknown law title {citation.law!r}")
        text = self._articles[citation.law].get(citation.article)
        if text is None:
            return CitationProblem(citation, f"{citation.law} has no article {citation.article}")
        if citation.quote and citation.quote not in text:
            return CitationProblem(citation, f"quote not found verbatim in {citation.label}")
        return None


_ARTICLE_NO = re.compile(r"第([0-9一二三四五六七八九十百千零两]+)条")


def find_article_reference(text: str, library: StatuteLibrary) -> Article | None:
    """Find an explicit reference such as ``民法典第1079条`` in a citizen's message."""
    names = sorted(((t.removeprefix("中华人民共和国"), t) for t in library.titles), key=lambda n: -len(n[0]))
    for match in _ARTICLE_NO.finditer(text):
        before = text[max(0, match.start() - 60): match.start()].rstrip("》 ")
        title = next((full for short, full in names if before.endswith(short)), None)
        if title is None:
            continue
        try:
            article = library.article(title, chinese_number(match.group(1)))
        except ValueError:
            continue
        if article is not None:
            return article
    return None
