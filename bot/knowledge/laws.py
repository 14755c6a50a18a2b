"""Statute texts (copied into ``knowledge_base/laws``) and mechanical citation checks."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from bot.domain import Article, Citation

#: Laws whose stored text is outdated: their article numbers must not be cited.
#: 律师法 in the data folder is the 2017 text; the law was amended in 2026.
UNCITABLE_LAWS: frozenset[str] = frozenset({"中华人民共和国律师法"})


class LawStatus(str, Enum):
    """A text's standing, read mechanically from its file's ``status_note`` (see laws/INDEX.md)."""

    CURRENT = "current"
    UNCERTAIN = "uncertain"  # cite only beside a current text
    OUTDATED = "outdated"  # never cited
    NOT_IN_FORCE = "not_in_force"  # adopted, not yet in force: never cited as current


_UNTIL = re.compile(r"[Ii]n force until (\d{4}-\d{2}-\d{2})")


def law_status(data: dict, today: dt.date | None = None) -> LawStatus:
    note = str(data.get("status_note", ""))
    if data.get("title") in UNCITABLE_LAWS or note.startswith("OUTDATED"):
        return LawStatus.OUTDATED
    if note.startswith("NOT YET IN FORCE"):
        return LawStatus.NOT_IN_FORCE
    until = _UNTIL.search(note)
    if until and (today or dt.date.today()) > dt.date.fromisoformat(until.group(1)):
        return LawStatus.OUTDATED
    if "STATUS UNCERTAIN" in note:
        return LawStatus.UNCERTAIN
    return LawStatus.CURRENT


_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
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


ArticleKey = tuple[int, str]  # (number, suffix): 第一百三十三条之一 is (133, "之一")


class StatuteLibrary:
    """All articles of the statutes in one folder, keyed by title and (number, suffix).

    Where two files carry one title (商标法 2019 and its 2026 revision, not yet in force), the
    citable one holds the title; the other is kept out.
    """

    def __init__(
        self,
        articles: dict[str, dict[ArticleKey, str]],
        chapters: dict[tuple[str, ArticleKey], str] | None = None,
        status: dict[str, LawStatus] | None = None,
    ) -> None:
        self._articles = articles
        self._chapters = chapters or {}
        self._status = status or {}

    @classmethod
    def load(cls, laws_dir: Path, today: dt.date | None = None) -> StatuteLibrary:
        articles: dict[str, dict[ArticleKey, str]] = {}
        chapters: dict[tuple[str, ArticleKey], str] = {}
        status: dict[str, LawStatus] = {}
        for path in sorted(laws_dir.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            title, standing = data["title"], law_status(data, today)
            if title in status and not _prefer(standing, status[title]):
                continue
            status[title] = standing
            articles[title] = {(a["number"], a.get("suffix", "")): a["text"] for a in data["articles"]}
            chapters.update(
                ((title, (a["number"], a.get("suffix", ""))), a.get("chapter") or "") for a in data["articles"]
            )
        return cls(articles, chapters, status)

    @property
    def titles(self) -> list[str]:
        return list(self._articles)

    def status(self, law: str) -> LawStatus:
        return self._status.get(law, LawStatus.OUTDATED if law in UNCITABLE_LAWS else LawStatus.CURRENT)

    def citable(self, law: str) -> bool:
        return law in self._articles and self.status(law) in (LawStatus.CURRENT, LawStatus.UNCERTAIN)

    def article(self, law: str, number: int, suffix: str = "") -> Article | None:
        text = self._articles.get(law, {}).get((number, suffix))
        if text is None:
            return None
        return Article(law, number, text, self._chapters.get((law, (number, suffix)), ""), suffix)

    def __iter__(self) -> Iterator[Article]:
        """Every article of every statute, laws in file order, articles in number order."""
        for law, texts in self._articles.items():
            for number, suffix in sorted(texts, key=_article_order):
                yield Article(
                    law, number, texts[(number, suffix)], self._chapters.get((law, (number, suffix)), ""), suffix
                )

    def __len__(self) -> int:
        return sum(len(t) for t in self._articles.values())

    def check(self, citation: Citation) -> CitationProblem | None:
        """Return what is wrong with a citation, or ``None`` when it is valid."""
        if citation.law not in self._articles:
            return CitationProblem(citation, f"unknown law title {citation.law!r}")
        standing = self.status(citation.law)
        if standing is LawStatus.OUTDATED:
            return CitationProblem(citation, f"{citation.law} is outdated here: do not cite its articles")
        if standing is LawStatus.NOT_IN_FORCE:
            return CitationProblem(
                citation, f"{citation.law} (this text) is not in force yet: do not cite it as current"
            )
        text = self._articles[citation.law].get((citation.article, citation.suffix))
        if text is None:
            return CitationProblem(citation, f"{citation.law} has no article {citation.article}{citation.suffix}")
        if citation.quote and citation.quote not in text:
            return CitationProblem(citation, f"quote not found verbatim in {citation.label}")
        return None


_STATUS_RANK = {LawStatus.CURRENT: 0, LawStatus.UNCERTAIN: 1, LawStatus.NOT_IN_FORCE: 2, LawStatus.OUTDATED: 3}
_SUFFIX_ORDER = "一二三四五六七八九十"


def _prefer(new: LawStatus, old: LawStatus) -> bool:
    return _STATUS_RANK[new] < _STATUS_RANK[old]


def _article_order(key: ArticleKey) -> tuple[int, int]:
    number, suffix = key
    return (number, _SUFFIX_ORDER.index(suffix[1]) + 1 if suffix.startswith("之") and len(suffix) == 2 else 0)


_ARTICLE_REF = re.compile(r"^\s*(\d+)\s*(之[一二三四五六七八九十])?\s*$")


def parse_article_ref(value: object) -> tuple[int, str] | None:
    """An article as written in the FAQ: ``133`` or ``"133之一"`` → (133, "之一"); None if malformed."""
    match = _ARTICLE_REF.match(str(value))
    return (int(match.group(1)), match.group(2) or "") if match else None


_ARTICLE_NO = re.compile(r"第([0-9一二三四五六七八九十百千零两]+)条(之[一二三四五六七八九十])?")


def find_article_reference(text: str, library: StatuteLibrary) -> Article | None:
    """Find an explicit reference such as ``民法典第1079条`` in a citizen's message."""
    names = sorted(((t.removeprefix("中华人民共和国"), t) for t in library.titles), key=lambda n: -len(n[0]))
    for match in _ARTICLE_NO.finditer(text):
        before = text[max(0, match.start() - 60) : match.start()].rstrip("》 ")
        title = next((full for short, full in names if before.endswith(short)), None)
        if title is None:
            continue
        try:
            article = library.article(title, chinese_number(match.group(1)), match.group(2) or "")
        except ValueError:
            continue
        if article is not None:
            return article
    return None
