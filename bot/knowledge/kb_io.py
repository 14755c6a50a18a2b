"""FAQ import and export in JSONL, CSV and XLSX, round-tripping without loss.

In CSV and XLSX one row is one entry; paraphrases are one per line inside their cell, and
citations one per line as ``law | article`` or ``law | article | quote``. An import is checked
whole before anything is written: a bad row is reported by its row number (as a spreadsheet
shows it) and the knowledge base is left untouched.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import yaml

from bot.domain import FaqEntry
from bot.knowledge import kb
from bot.knowledge.laws import StatuteLibrary
from bot.web.console.export import FORMULA_START, spreadsheet_safe

FORMATS = ("jsonl", "csv", "xlsx")
COLUMNS = ("id", "topic", "subtopic", "question", "paraphrases", "answer", "citations", "reviewed_on", "facts")
_LIST_CELLS = ("paraphrases", "citations", "facts")
#: New entries from an import go to this file; entries already in the FAQ stay in their file.
IMPORT_FILE = "imported.yml"


def format_of(path: Path, explicit: str | None = None) -> str:
    fmt = explicit or path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


# ---- rows -----------------------------------------------------------------------------------
def to_row(entry: FaqEntry) -> dict[str, str]:
    data = kb.entry_to_dict(entry)
    return {
        "id": entry.id,
        "topic": entry.topic,
        "subtopic": entry.subtopic or "",
        "question": entry.question,
        "paraphrases": "\n".join(entry.paraphrases),
        "answer": entry.answer,
        "citations": "\n".join(
            " | ".join([c["law"], str(c["article"])] + ([c["quote"]] if "quote" in c else []))
            for c in data["citations"]
        ),
        "reviewed_on": data["reviewed_on"],
        "facts": "\n".join(f"{name}: {value}" for name, value in entry.facts),
    }


def from_row(row: dict) -> dict:
    """A spreadsheet row (strings, or None for empty cells) back to a raw entry."""

    def cell(name: str) -> str:
        value = row.get(name)
        if isinstance(value, (dt.date, dt.datetime)):
            return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()
        text = "" if value is None else str(value)
        if text[:1] == "'" and text[1:2] in FORMULA_START:  # the quote our export put before a formula
            text = text[1:]
        return text.strip()

    raw: dict = {name: cell(name) for name in COLUMNS if cell(name) != "" and name not in _LIST_CELLS}
    if "paraphrases" in row and row["paraphrases"] is not None:
        raw["paraphrases"] = [line.strip() for line in cell("paraphrases").splitlines() if line.strip()]
    if "citations" in row and row["citations"] is not None:
        citations = []
        for line in cell("citations").splitlines():
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|", 2)]
            citation: dict = {"law": parts[0], "article": parts[1] if len(parts) > 1 else ""}
            if len(parts) > 2 and parts[2]:
                citation["quote"] = parts[2]
            citations.append(citation)
        raw["citations"] = citations
    if row.get("facts"):
        raw["facts"] = {
            name.strip(): value.strip()
            for name, _, value in (line.partition(":") for line in cell("facts").splitlines() if line.strip())
        }
    return raw


# ---- export ---------------------------------------------------------------------------------
def safe_row(entry: FaqEntry) -> dict[str, str]:
    """``to_row`` for a spreadsheet: a cell it would run as a formula (= + - @ tab CR first) is quoted
    with a leading ``'`` (the import takes it off again)."""
    return {name: spreadsheet_safe(value) for name, value in to_row(entry).items()}


def export(entries: list[FaqEntry], fmt: str, out: IO[bytes]) -> None:
    if fmt == "jsonl":
        for entry in entries:
            out.write((json.dumps(kb.entry_to_dict(entry), ensure_ascii=False) + "\n").encode("utf-8"))
    elif fmt == "csv":
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(safe_row(e) for e in entries)
        out.write(("\ufeff" + text.getvalue()).encode("utf-8"))  # BOM: Excel then reads UTF-8
    elif fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "FAQ"
        sheet.append(list(COLUMNS))
        for entry in entries:
            row = safe_row(entry)
            sheet.append([row[c] for c in COLUMNS])
        book.save(out)
    else:
        raise ValueError(fmt)


# ---- import ---------------------------------------------------------------------------------
def read_rows(data: bytes, fmt: str) -> list[tuple[int, dict | None, str | None]]:
    """(row number, raw entry or None, parse error or None) for every non-empty row."""
    rows: list[tuple[int, dict | None, str | None]] = []
    if fmt == "jsonl":
        for number, line in enumerate(data.decode("utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                rows.append((number, raw, None) if isinstance(raw, dict) else (number, None, "not a JSON object"))
            except ValueError as exc:  # also a number beyond Python's 4300-digit limit: no JSONDecodeError
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                rows.append((number, None, f"not valid JSON ({reason})"))
        return rows
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        table = [(number, row) for number, row in enumerate(reader, start=2)]
        header = reader.fieldnames or []
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        header = [str(h).strip() if h is not None else "" for h in (values[0] if values else [])]
        table = [(number, dict(zip(header, row))) for number, row in enumerate(values[1:], start=2)]
    missing = [c for c in ("id", "question") if c not in header]
    if missing:
        return [(1, None, f"header row lacks column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")]
    for number, row in table:
        if all(v is None or str(v).strip() == "" for v in row.values()):
            continue
        rows.append((number, from_row(row), None))
    return rows


@dataclass
class ImportResult:
    problems: list[kb.Problem]
    added: int = 0
    updated: int = 0
    removed: int = 0


def import_entries(
    data: bytes, fmt: str, faq_dir: Path, library: StatuteLibrary, replace: bool = False
) -> ImportResult:
    """Merge (or, with ``replace``, substitute) the imported entries; write only when all are valid."""
    problems: list[kb.Problem] = []
    imported: dict[str, tuple[int, FaqEntry]] = {}
    for number, raw, error in read_rows(data, fmt):
        where = f"row {number}"
        if raw is None:  # then read_rows gives the error
            problems.append(kb.Problem(where, "-", str(error)))
            continue
        label = f"{where} ({raw.get('id', 'no id')})"
        found = kb.schema_problems(raw, label)
        if found:
            problems.extend(kb.Problem(label, p.field, p.message) for p in found)
            continue
        entry = kb.entry_from_dict(raw)
        if entry.id in imported:
            problems.append(kb.Problem(label, "id", f"same id as row {imported[entry.id][0]}"))
            continue
        problems.extend(kb.Problem(label, p.field, p.message) for p in kb.content_problems(entry, library))
        imported[entry.id] = (number, entry)
    if problems:
        return ImportResult(problems)

    files: dict[str, list[FaqEntry]] = {}
    home: dict[str, str] = {}
    for where, raw in kb.read_raw(faq_dir):
        name = where.split("[")[0]
        files.setdefault(name, [])
        if kb.schema_problems(raw, where):
            raise kb.KnowledgeBaseError(f"{where}: fix the knowledge base before importing (`kb validate`)")
        entry = kb.entry_from_dict(raw)
        home[entry.id] = name
        files[name].append(entry)
    result = ImportResult([])
    for name, entries in files.items():
        kept = []
        for entry in entries:
            if entry.id in imported:
                new = imported[entry.id][1]
                result.updated += new != entry
                kept.append(new)
            elif not replace:
                kept.append(entry)
            else:
                result.removed += 1
        files[name] = kept
    new_entries = [e for _, e in imported.values() if e.id not in home]
    result.added = len(new_entries)
    if new_entries:
        files.setdefault(IMPORT_FILE, []).extend(new_entries)
    for name, entries in files.items():
        _write_yaml(faq_dir / name, entries)
    return result


class _BlockDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockDumper.add_representer(str, _str)


def _write_yaml(path: Path, entries: list[FaqEntry]) -> None:
    """Rewrite one FAQ file atomically, keeping its leading comment lines."""
    header = ""
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        header = "".join(
            line for line in lines[: next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))]
        )
    docs = []
    for entry in entries:
        data = kb.entry_to_dict(entry)
        data["reviewed_on"] = entry.reviewed_on
        data["answer"] = entry.answer + "\n"
        docs.append(data)
    body = yaml.dump(docs, Dumper=_BlockDumper, allow_unicode=True, sort_keys=False, width=1000)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(header + ("\n" if header else "") + body, encoding="utf-8")
    os.replace(tmp, path)
