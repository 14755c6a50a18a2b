"""PIPL helpers: pseudonyms for sender ids, logging with them (never message text), and scrubbing
of text that is kept for people to read."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets

logger = logging.getLogger(__name__)

#: Where scripts/env.sh keeps the pseudonym secret it generates (inside the data folder).
SECRET_FILE = "pseudonym_secret"


@functools.lru_cache(maxsize=1)
def _secret() -> bytes:
    """``LEGAL_TRIAGE_PSEUDONYM_SECRET``, else the one scripts/env.sh keeps in the data folder, else a
    random secret of this process (with a warning: pseudonyms then differ between processes and
    restarts, so statistics over-count people and erasure misses their statistics)."""
    from bot.settings import get_settings

    settings = get_settings()
    secret = settings.pseudonym_secret
    if not secret:
        try:
            secret = (settings.data_dir / SECRET_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            secret = ""
    if not secret:
        logger.warning("LEGAL_TRIAGE_PSEUDONYM_SECRET is not set: pseudonyms use a random secret of this process")
        return secrets.token_bytes(32)
    return secret.encode("utf-8")


def hashed(sender_id: str, secret: bytes | None = None) -> str:
    """A short, stable pseudonym for a sender id (channel prefix kept, e.g. ``web:3f2a…``).

    Keyed (HMAC-SHA256 with the pseudonym secret): a plain hash of a Telegram chat id or a phone
    number is reversed by hashing every possible one.
    """
    channel = sender_id.partition(":")[0] if ":" in sender_id else ""
    digest = hmac.new(secret or _secret(), sender_id.encode("utf-8"), hashlib.sha256).hexdigest()[:12]
    return f"{channel}:{digest}" if channel else digest


_FULLWIDTH = str.maketrans("０１２３４５６７８９Ｘｘ＋", "0123456789Xx+")
_SEP = r"[\s\-－—]?"
#: What ``scrub`` replaces, in order: ID-card numbers, mobile and landline numbers, other long
#: numbers (bank cards, account numbers), and names after the phrases that introduce one.
_SCRUBBERS = (
    (re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])"), "[身份证号]"),
    (re.compile(rf"(?<!\d)(\+?86{_SEP})?1[3-9]\d({_SEP}\d){{8}}(?!\d)"), "[电话]"),
    (re.compile(rf"(?<!\d)0\d{{2,3}}{_SEP}\d{{7,8}}(?!\d)"), "[电话]"),
    (re.compile(r"\d{9,}"), "[号码]"),
    (
        re.compile(r"(我叫|他叫|她叫|名叫|名字叫|名字是|姓名[是为]?[:：]?|本人叫|我的名字是)\s*[\u4e00-\u9fa5·]{2,3}"),
        r"\1[姓名]",
    ),
)


def scrub(text: str) -> str:
    """The text with phone, ID-card and other long numbers and introduced names replaced by labels.

    For text that is kept for people to read (unanswered questions): what remains is the question.
    Names are found only where a phrase introduces them ("我叫…", "姓名：…"); a bare name in a story
    cannot be told from other words and stays.
    """
    text = text.translate(_FULLWIDTH)
    for pattern, label in _SCRUBBERS:
        text = pattern.sub(label, text)
    return text


def log_event(logger: logging.Logger, event: str, sender_id: str, **fields: object) -> None:
    """Log one event with only safe fields (labels, ids, scores, timings)."""
    parts = " ".join(f"{k}={v}" for k, v in fields.items())
    logger.info("%s sender=%s %s", event, hashed(sender_id), parts)


def ensure_action_logging() -> None:
    """Give our loggers a handler inside the action server.

    The action server's entry point is rasa-sdk's own, and its Sanic worker process does not
    inherit logging set up elsewhere, so the warm-up and every action call this (idempotent).
    """
    root = logging.getLogger("bot")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s - %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
