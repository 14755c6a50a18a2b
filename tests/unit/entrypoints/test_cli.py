"""The CLI's batch interfaces (JSONL in and out) with the real model, index and topic model."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from bot.domain import TOPICS
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.model


def run(*args: str, stdin: str = "") -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_topics_classify_scores_all_labels_best_first():
    rows = run("topics", "classify", stdin='老板欠我工资不给\n{"text": "离婚后孩子归谁"}\n')
    assert [r["text"] for r in rows] == ["老板欠我工资不给", "离婚后孩子归谁"]
    for row in rows:
        scores = [t["score"] for t in row["topics"]]
        assert sorted(t["label"] for t in row["topics"]) == sorted(TOPICS) and scores == sorted(scores, reverse=True)
    assert rows[0]["topics"][0]["label"] == "劳动纠纷" and rows[1]["topics"][0]["label"] == "婚姻家庭"


def test_faq_search_returns_ranked_ids():
    rows = run("faq", "search", stdin='{"query": "工资被拖欠了怎么办"}\n')
    hits = rows[0]["hits"]
    assert rows[0]["query"] == "工资被拖欠了怎么办" and len(hits) == 10
    assert hits[0]["id"].startswith("labour-") and hits[0]["score"] >= hits[-1]["score"]


def test_kb_export_is_one_entry_a_line():
    rows = run("kb", "export", "--format", "jsonl")
    assert len(rows) >= 1000
    assert all(
        isinstance(c["article"], int) or re.fullmatch(r"\d+之[一二三四五六七八九十]", c["article"])
        for r in rows
        for c in r["citations"]
    )


def test_laws_search_writes_ten_articles_per_question():
    rows = run("laws", "search", stdin='离婚冷静期是哪条规定的\n{"query": "老板三个月冇发工资了"}\n')
    assert [r["query"] for r in rows] == ["离婚冷静期是哪条规定的", "老板三个月冇发工资了"]
    for row in rows:
        assert len(row["hits"]) == 10 and all(set(h) == {"law", "article", "score"} for h in row["hits"])
        assert all(
            isinstance(h["article"], int) or re.fullmatch(r"\d+之[一二三四五六七八九十]", h["article"])
            for h in row["hits"]
        )
        assert [h["score"] for h in row["hits"]] == sorted((h["score"] for h in row["hits"]), reverse=True)
    assert {"law": "中华人民共和国民法典", "article": 1077} in [
        {k: h[k] for k in ("law", "article")} for h in rows[0]["hits"]
    ]


def test_kb_import_reports_rows_and_exports_xlsx(tmp_path):
    xlsx = tmp_path / "faq.xlsx"
    subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", "kb", "export", "-o", str(xlsx)],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert xlsx.read_bytes()[:2] == b"PK"  # a zip container, as XLSX is
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x-y-z", "topic": "劳动纠纷"}\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", "kb", "import", str(bad)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "row 1 (x-y-z): question: missing field" in done.stdout
    assert "nothing imported" in done.stdout
