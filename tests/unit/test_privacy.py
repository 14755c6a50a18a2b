"""bot/privacy.py: scrubbing text kept for people to read, and pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest

from bot import privacy
from bot.privacy import hashed, scrub
from bot.settings import PROJECT_ROOT, get_settings


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


@pytest.fixture
def fresh_secret(monkeypatch, tmp_path):
    """The pseudonym secret read again from the environment, with an empty data folder."""
    monkeypatch.delenv("LEGAL_TRIAGE_PSEUDONYM_SECRET", raising=False)
    monkeypatch.setenv("LEGAL_TRIAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(logging.getLogger("bot"), "propagate", True)
    get_settings.cache_clear()
    privacy._secret.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    privacy._secret.cache_clear()


def test_a_pseudonym_depends_on_the_secret_and_is_not_a_plain_sha256():
    chat_id = "tg:123456789"
    plain = hashlib.sha256(chat_id.encode()).hexdigest()[:12]
    one, other = hashed(chat_id, b"county-secret"), hashed(chat_id, b"another-secret")
    assert one == hashed(chat_id, b"county-secret") and one != other
    assert one.startswith("tg:") and plain not in (one[3:], other[3:])
    assert one == "tg:" + hmac.new(b"county-secret", chat_id.encode(), hashlib.sha256).hexdigest()[:12]


def test_the_secret_comes_from_the_settings(fresh_secret, monkeypatch):
    monkeypatch.setenv("LEGAL_TRIAGE_PSEUDONYM_SECRET", "county-secret")
    assert hashed("tg:42") == hashed("tg:42", b"county-secret")


def test_else_from_the_file_scripts_env_sh_keeps(fresh_secret):
    (fresh_secret / privacy.SECRET_FILE).write_text("from-the-file\n")
    assert hashed("tg:42") == hashed("tg:42", b"from-the-file")


def test_without_a_secret_pseudonyms_are_keyed_by_a_random_one_with_a_warning(fresh_secret, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.privacy"):
        first = hashed("tg:42")
    assert "LEGAL_TRIAGE_PSEUDONYM_SECRET is not set" in caplog.text
    assert first == hashed("tg:42") and first != "tg:" + hashlib.sha256(b"tg:42").hexdigest()[:12]
    privacy._secret.cache_clear()  # another process
    assert hashed("tg:42") != first
