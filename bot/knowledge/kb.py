"""The FAQ knowledge base: YAML files under ``knowledge_base/faq``, loaded, validated, exported."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.domain import TOPICS, Citation, FaqEntry
from bot.errors import KnowledgeBaseError
from bot.knowledge.laws import LawStatus, StatuteLibrary, parse_article_ref

REQUIRED_FIELDS = ("id", "topic", "question", "paraphrases", "answer", "citations", "reviewed_on")
MIN_PARAPHRASES = 8
#: At least this many paraphrases are long narratives, the way citizens write (a story, then the question).
MIN_NARRATIVE = 3
NARRATIVE_CHARS = (40, 120)
MAX_ANSWER_CHARS = 900
#: The structured facts an entry may carry for follow-up questions, and their length limit.
FACT_NAMES = ("materials", "where", "cost", "time_limit")
MAX_FACT_CHARS = 200
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")
#: Landline or mobile numbers that are not one of the national hotlines we may name.
_LOCAL_PHONE = re.compile(r"(?<!\d)(?:0\d{2,3}-?\d{7,8}|1[3-9]\d{9})(?!\d)")
#: A street address ("建设路12号") or opening hours ("8:30-17:00") written into an answer.
_LOCAL_ADDRESS = re.compile(r"[\u4e00-\u9fff]{1,8}(?:路|街|大道|巷)\s*[0-9０-９一二三四五六七八九十百]+\s*号")
_OPENING_HOURS = re.compile(r"\d{1,2}\s*[:：点]\s*\d{0,2}\s*(?:-|—|–|~|～|至|到)\s*\d{1,2}\s*[:：点]")


@dataclass(frozen=True)
class Problem:
    entry_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.entry_id}: {self.field}: {self.message}"


def entry_from_dict(raw: dict) -> FaqEntry:
    reviewed = raw["reviewed_on"]
    if isinstance(reviewed, str):
        reviewed = dt.date.fromisoformat(reviewed)
    return FaqEntry(
        id=str(raw["id"]),
        topic=str(raw["topic"]),
        subtopic=raw.get("subtopic"),
        question=str(raw["question"]).strip(),
        paraphrases=tuple(str(p).strip() for p in raw["paraphrases"]),
        answer=str(raw["answer"]).strip(),
        citations=tuple(_citation(c) for c in raw["citations"]),
        reviewed_on=reviewed,
        facts=tuple(
            (name, str(raw["facts"][name]).strip())
            for name in FACT_NAMES
            if isinstance(raw.get("facts"), dict) and raw["facts"].get(name)
        ),
    )


def _citation(raw: dict) -> Citation:
    number, suffix = parse_article_ref(raw["article"]) or (0, "")
    return Citation(law=raw["law"], article=number, quote=raw.get("quote"), suffix=suffix)


def schema_problems(raw: dict, where: str) -> list[Problem]:
    """Problems that prevent building an entry at all (missing or mistyped fields)."""
    entry_id = str(raw.get("id", where)) if isinstance(raw, dict) else where
    if not isinstance(raw, dict):
        return [Problem(where, "-", "entry must be a mapping")]
    problems = [Problem(entry_id, f, "missing field") for f in REQUIRED_FIELDS if f not in raw]
    if not isinstance(raw.get("paraphrases", []), list):
        problems.append(Problem(entry_id, "paraphrases", "must be a list"))
    citations = raw.get("citations", [])
    if not isinstance(citations, list) or not all(
        isinstance(c, dict) and "law" in c and parse_article_ref(c.get("article", "")) for c in citations
    ):
        problems.append(
            Problem(entry_id, "citations", "each citation needs 'law' and an article (1079 or \"133之一\")")
        )
    facts = raw.get("facts", {})
    if not isinstance(facts, dict) or set(facts) - set(FACT_NAMES):
        problems.append(Problem(entry_id, "facts", f"must be a mapping with keys among {', '.join(FACT_NAMES)}"))
    try:
        if "reviewed_on" in raw and not isinstance(raw["reviewed_on"], dt.date):
            dt.date.fromisoformat(str(raw["reviewed_on"]))
    except ValueError:
        problems.append(Problem(entry_id, "reviewed_on", "must be a date YYYY-MM-DD"))
    return problems


def content_problems(entry: FaqEntry, library: StatuteLibrary) -> list[Problem]:
    """Problems in a well-formed entry: citations, topic, lengths, invented-looking contacts."""
    p: list[Problem] = []
    if not _ID.match(entry.id):
        p.append(Problem(entry.id, "id", "use lowercase letters, digits and '-'"))
    if entry.topic not in TOPICS:
        p.append(Problem(entry.id, "topic", f"{entry.topic!r} is not one of the 20 topics"))
    if len(entry.paraphrases) < MIN_PARAPHRASES:
        p.append(Problem(entry.id, "paraphrases", f"needs at least {MIN_PARAPHRASES}, has {len(entry.paraphrases)}"))
    narrative = sum(NARRATIVE_CHARS[0] <= len(t) <= NARRATIVE_CHARS[1] for t in entry.paraphrases)
    if narrative < MIN_NARRATIVE:
        p.append(
            Problem(
                entry.id,
                "paraphrases",
                f"needs at least {MIN_NARRATIVE} long narrative ones "
                f"({NARRATIVE_CHARS[0]}-{NARRATIVE_CHARS[1]} characters), has {narrative}",
            )
        )
    for name, value in entry.facts:
        if len(value) > MAX_FACT_CHARS:
            p.append(Problem(entry.id, "facts", f"{name} too long ({len(value)} > {MAX_FACT_CHARS} characters)"))
        if _LOCAL_PHONE.search(value) or _LOCAL_ADDRESS.search(value) or _OPENING_HOURS.search(value):
            p.append(
                Problem(
                    entry.id, "facts", f"{name} contains a local contact or opening hours; use the service directory"
                )
            )
    if len(set(entry.texts)) != len(entry.texts):
        p.append(Problem(entry.id, "paraphrases", "repeats a text"))
    if not entry.answer:
        p.append(Problem(entry.id, "answer", "is empty"))
    elif len(entry.answer) > MAX_ANSWER_CHARS:
        p.append(Problem(entry.id, "answer", f"too long ({len(entry.answer)} > {MAX_ANSWER_CHARS} characters)"))
    if _LOCAL_PHONE.search(entry.answer):
        p.append(Problem(entry.id, "answer", "contains a local-looking phone number; use the service directory"))
    if _LOCAL_ADDRESS.search(entry.answer):
        p.append(Problem(entry.id, "answer", "contains a street address; use the service directory"))
    if _OPENING_HOURS.search(entry.answer):
        p.append(Problem(entry.id, "answer", "contains opening hours; use the service directory"))
    if not entry.citations:
        p.append(Problem(entry.id, "citations", "at least one citation is required"))
    for c in entry.citations:
        issue = library.check(c)
        if issue:
            p.append(Problem(entry.id, "citations", issue.message))
    statuses = {library.status(c.law) for c in entry.citations}
    if LawStatus.UNCERTAIN in statuses and LawStatus.CURRENT not in statuses:
        p.append(Problem(entry.id, "citations", "a text of uncertain status may be cited only beside a current one"))
    return p


class KnowledgeBase:
    """A loaded, validated FAQ."""

    def __init__(self, entries: Iterable[FaqEntry]) -> None:
        self.entries: list[FaqEntry] = list(entries)
        self._by_id = {e.id: e for e in self.entries}

    def get(self, entry_id: str) -> FaqEntry | None:
        return self._by_id.get(entry_id)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def version(self) -> str:
        """A content hash: which KB version an index was built from."""
        digest = hashlib.sha256()
        for line in sorted(json.dumps(entry_to_dict(e), ensure_ascii=False, sort_keys=True) for e in self.entries):
            digest.update(line.encode())
        return digest.hexdigest()[:16]


def read_raw(faq_dir: Path, problems: list[Problem] | None = None) -> list[tuple[str, dict]]:
    """All raw entries with their source location, files in name order.

    A file that is not a YAML list raises, or, when ``problems`` is given, is reported there and
    skipped (so that one broken file does not hide the problems of the others).
    """
    raws: list[tuple[str, dict]] = []
    for path in sorted(faq_dir.glob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
            if not isinstance(data, list):
                raise KnowledgeBaseError(f"{path.name}: the file must hold a list of entries")
        except (yaml.YAMLError, KnowledgeBaseError) as exc:
            if problems is None:
                raise KnowledgeBaseError(f"{path.name}: {exc}") from exc
            problems.append(Problem(path.name, "file", str(exc).replace("\n", " ")))
            continue
        raws.extend((f"{path.name}[{i}]", raw) for i, raw in enumerate(data))
    return raws


#: How an answer refers a citizen to an office whose contacts are configuration.
DIRECTORY_REFERENCE = "地址见服务目录"


def office_problems(entry: FaqEntry, office_names: Iterable[str]) -> list[Problem]:
    """Every "（地址见服务目录）" must follow an office that the service directory lists."""
    names = tuple(office_names)
    texts = [entry.answer, *(v for _, v in entry.facts)]
    return [
        Problem(
            entry.id,
            "answer",
            f"names an office that is not in services.yml → offices: …{text[max(0, m.start() - 30) : m.start()]}",
        )
        for text in texts
        for m in re.finditer(DIRECTORY_REFERENCE, text)
        if not any(n in text[max(0, m.start() - 60) : m.start()] for n in names)
    ]


def validate(
    faq_dir: Path, library: StatuteLibrary, office_names: Iterable[str] | None = None
) -> tuple[KnowledgeBase, list[Problem]]:
    """Load and check every entry; returns the entries that could be built and all problems.

    With ``office_names`` (from the service directory), offices an answer sends people to are checked too.
    """
    problems: list[Problem] = []
    entries: list[FaqEntry] = []
    seen: set[str] = set()
    for where, raw in read_raw(faq_dir, problems):
        found = schema_problems(raw, where)
        if found:
            problems.extend(found)
            continue
        entry = entry_from_dict(raw)
        if entry.id in seen:
            problems.append(Problem(entry.id, "id", f"duplicate id (again at {where})"))
            continue
        seen.add(entry.id)
        problems.extend(content_problems(entry, library))
        if office_names is not None:
            problems.extend(office_problems(entry, office_names))
        entries.append(entry)
    return KnowledgeBase(entries), problems


def load(faq_dir: Path, library: StatuteLibrary) -> KnowledgeBase:
    """Load the FAQ, refusing an invalid one."""
    kb, problems = validate(faq_dir, library)
    if problems:
        listing = "\n".join(str(p) for p in problems[:20])
        raise KnowledgeBaseError(f"{len(problems)} problem(s) in the knowledge base:\n{listing}")
    return kb


def entry_to_dict(entry: FaqEntry) -> dict:
    """An entry as plain data (the YAML, JSONL and index format), without loss."""
    out: dict[str, Any] = {"id": entry.id, "topic": entry.topic}
    if entry.subtopic:
        out["subtopic"] = entry.subtopic
    out |= {
        "question": entry.question,
        "paraphrases": list(entry.paraphrases),
        "answer": entry.answer,
        "citations": [
            {"law": c.law, "article": c.ref} | ({"quote": c.quote} if c.quote else {}) for c in entry.citations
        ],
        "reviewed_on": entry.reviewed_on.isoformat(),
    }
    if entry.facts:
        out["facts"] = dict(entry.facts)
    return out


#: Centred-centroid cosine at or above which two entries are taken to answer the same question.
#: Measured on the 286-entry FAQ: the most similar distinct pair (人民调解 in general vs refusing
#: mediation) scores 0.81, the 99th percentile of all pairs 0.48; a restated copy scores above 0.9.
NEAR_DUPLICATE = 0.85


def cached_encode(embedder, texts: list[str], cache: Path | None):
    """Query vectors for ``texts``, reusing those in ``cache`` (an .npz per model) and adding new ones.

    Re-validating after an edit then embeds only what changed (seconds instead of minutes).
    """
    import numpy as np

    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as data:
                if str(data["model"]) == embedder.name:
                    known = dict(zip(data["texts"].tolist(), data["vectors"]))
        except (OSError, ValueError, KeyError):
            known = {}
    missing = sorted({t for t in texts if t not in known})
    if missing:
        known.update(zip(missing, embedder.encode(missing, kind="query")))
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".{cache.stem}.{os.getpid()}.npz")
            wanted = set(texts)
            keep = [t for t in known if t in wanted]
            np.savez(
                tmp, model=np.array(embedder.name), texts=np.array(keep), vectors=np.stack([known[t] for t in keep])
            )
            os.replace(tmp, cache)
    return np.stack([known[t] for t in texts]) if texts else np.zeros((0, embedder.dim), np.float32)


def near_duplicates(
    kb: KnowledgeBase, embedder, threshold: float = NEAR_DUPLICATE, cache: Path | None = None
) -> list[Problem]:
    """Pairs of entries that ask the same thing (they would compete in retrieval).

    Each entry is the mean of its texts' embeddings after the FAQ-wide mean is removed (E5 puts
    every Chinese question in a narrow cone, so raw cosines all look alike).
    """
    import numpy as np

    if len(kb) < 3:
        return []
    texts = [t for e in kb.entries for t in e.texts]
    vectors = cached_encode(embedder, texts, cache)
    vectors = vectors - vectors.mean(axis=0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)
    centroids, start = [], 0
    for e in kb.entries:
        mean = vectors[start : start + len(e.texts)].mean(axis=0)
        centroids.append(mean / (np.linalg.norm(mean) or 1.0))
        start += len(e.texts)
    sims = np.stack(centroids) @ np.stack(centroids).T
    problems = []
    for i, j in zip(*np.where(np.triu(sims, k=1) >= threshold)):
        a, b = kb.entries[i], kb.entries[j]
        problems.append(
            Problem(
                b.id,
                "question",
                f"near-duplicate of {a.id} (similarity {sims[i, j]:.3f}): merge them or make the questions distinct",
            )
        )
    return problems
