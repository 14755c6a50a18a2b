"""Merge real-style questions written per area into the dev and test splits (run once, 2026-12-01).

    .venv/app/bin/python tools/split_real_style.py AREA.jsonl [AREA.jsonl ...]

The per-area files the writers delivered are not kept: ``dev.jsonl`` and ``test.jsonl`` (with an
``area`` field) are the record, and thresholds were chosen on that dev split. Add new questions to
one split directly rather than re-running this, which would move questions between the splits.

Each input line is ``{"query", "faq_id", "style"}``; the area is the file's name. Lines whose
``faq_id`` is not a published entry (nor ``none``) are refused, repeated questions dropped, and
each question goes to dev or test by a hash of its text, per area and per answerable/none, so
that both splits cover every area alike. Writes ``dev.jsonl`` and ``test.jsonl`` into the folder
above the inputs' folder.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

from bot.knowledge import kb
from bot.knowledge.laws import StatuteLibrary
from bot.settings import get_settings


def main(paths: list[str]) -> int:
    settings = get_settings()
    knowledge, _ = kb.validate(settings.knowledge_base_dir / "faq", StatuteLibrary.load(settings.laws_dir))
    ids = {e.id for e in knowledge.entries}
    groups: dict[tuple[str, bool], list[dict]] = defaultdict(list)
    seen: set[str] = set()
    refused = 0
    for path in map(Path, paths):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            query, faq_id = str(row["query"]).strip(), str(row["faq_id"]).strip()
            if faq_id != "none" and faq_id not in ids:
                print(f"{path.name}:{n}: unknown entry {faq_id!r}", file=sys.stderr)
                refused += 1
                continue
            if query in seen:
                continue
            seen.add(query)
            groups[(path.stem, faq_id == "none")].append(
                {"query": query, "faq_id": faq_id, "style": row.get("style", ""), "area": path.stem}
            )
    splits: dict[str, list[dict]] = {"dev": [], "test": []}
    for key in sorted(groups):
        rows = sorted(groups[key], key=lambda r: hashlib.sha256(r["query"].encode()).hexdigest())
        for i, row in enumerate(rows):
            splits["dev" if i % 2 == 0 else "test"].append(row)
    out = Path(paths[0]).resolve().parent.parent
    for name, rows in splits.items():
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        none = sum(r["faq_id"] == "none" for r in rows)
        print(f"{name}: {len(rows)} questions ({none} none) -> {out / f'{name}.jsonl'}")
    print(f"refused {refused} line(s) naming unknown entries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
