"""The CLI's batch interfaces (JSONL in and out) with the real model, index and topic model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from legal_triage.domain import TOPICS
from legal_triage.settings import PROJECT_ROOT

pytestmark = pytest.mark.model


def run(*args: str, stdin: str = "") -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "legal_triage.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=PROJECT_ROOT, timeout=300, check=True)
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
    assert len(rows) >= 60 and all(isinstance(c["article"], int) for r in rows for c in r["citations"])
