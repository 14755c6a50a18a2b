"""PIPL-safe logging helpers: log hashed sender ids and labels, never message text."""

from __future__ import annotations

import hashlib
import logging


def hashed(sender_id: str) -> str:
    """A short, stable pseudonym for a sender id (channel prefix kept, e.g. ``web:3f2a…``)."""
    channel, _, rest = sender_id.partition(":") if ":" in sender_id else ("", "", sender_id)
    digest = hashlib.sha256(sender_id.encode("utf-8")).hexdigest()[:12]
    return f"{channel}:{digest}" if channel else digest


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
