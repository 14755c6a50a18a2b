"""Webhook idempotency: an update handled once is not handled again when it comes back.

Telegram redelivers updates a worker had fetched but not confirmed when it died; WeChat retries a
message it got no answer to. Both channels look the delivery up in the case store's delivery log
before handling it and record it afterwards, so a redelivery after a crash, a restart or on another
instance is answered once. The log is a convenience, not a gate: when the database cannot be read,
the message is handled rather than dropped.
"""

from __future__ import annotations

import logging
from typing import Protocol

logger = logging.getLogger("bot.channels")


class DeliveryLog(Protocol):
    def delivered(self, key: str) -> bool: ...

    def mark_delivered(self, key: str) -> None: ...


def already_delivered(log: DeliveryLog | None, key: str) -> bool:
    """Whether ``key`` was handled before (never, without a log)."""
    if log is None:
        return False
    try:
        return log.delivered(key)
    except Exception as exc:  # noqa: BLE001 - answering twice beats not answering
        logger.warning("delivery log unreadable: %s", type(exc).__name__)
        return False


def mark_delivered(log: DeliveryLog | None, key: str) -> None:
    if log is None:
        return
    try:
        log.mark_delivered(key)
    except Exception as exc:  # noqa: BLE001
        logger.warning("delivery log not written: %s", type(exc).__name__)
