"""bot/privacy.py: scrubbing text kept for people to read, and pseudonyms."""

from __future__ import annotations

import json

import pytest

from bot.privacy import scrub
from bot.settings import PROJECT_ROOT


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("电话13812345678", "电话[电话]"),
        ("电话 138 1234 5678 或 ＋86-139-1234-5678", "电话 [电话] 或 [电话]"),
        ("１３８１２３４５６７８", "[电话]"),
        ("座机0731-55512345", "座机[电话]"),
        ("身份证43032119900307123X号", "身份证[身份证号]号"),
        ("老身份证430321900307123", "老身份证[身份证号]"),
        ("银行卡6222021234567890123被冻结", "银行卡[号码]被冻结"),
        ("我叫王建国，想问离婚", "我叫[姓名]，想问离婚"),
        ("姓名：李小红", "姓名：[姓名]"),
        ("欠了我3万块，2025年借的", "欠了我3万块，2025年借的"),
    ],
)
def test_scrub_replaces_phone_id_and_long_numbers_and_introduced_names(text, scrubbed):
    assert scrub(text) == scrubbed


def test_scrub_leaves_real_questions_alone():
    folder = PROJECT_ROOT / "knowledge_base"
    queries = [
        json.loads(line)["query"]
        for path in [*folder.glob("dev/*.jsonl"), *folder.glob("eval/faq_eval_*.jsonl")]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and "query" in json.loads(line)
    ]
    assert len(queries) > 1000
    assert [q for q in queries if scrub(q) != q] == []
