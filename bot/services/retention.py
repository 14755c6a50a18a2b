"""The personal-information lifecycle (PIPL art. 19, 47): retention periods and erasure on request.

``legal-triage data prune`` (daily, from cron) deletes what is past its period in every table of ours
and in Rasa's tracker store; the periods are the ``LEGAL_TRIAGE_RETAIN_*`` settings. Tables without
personal information (counters, slot counts, FAQ drafts, committee schedules, staff accounts) have no
period. Only counts are printed and logged.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from bot.domain import RetentionCutoffs
from bot.errors import LegalTriageError
from bot.privacy import hashed
from bot.services.accounts import Accounts
from bot.services.caps import phone_key
from bot.services.validation import parse_phone
from bot.settings import Settings
from bot.storage.port import CaseStore
from bot.storage.rasa_tracker import RasaTracker

logger = logging.getLogger("bot.retention")

#: The key of Rasa's tracker events in the counts.
TRACKER = "rasa_tracker_events"


class NotACitizen(LegalTriageError):
    default_message = "give a sender id (web:…, tg:…, wx:…) or a phone number"


def _unkeyed_pseudonym(sender_id: str) -> str:
    """The pseudonym of statistics written before pseudonyms were keyed (a plain SHA-256), until the
    statistics' retention period has removed them."""
    channel = sender_id.partition(":")[0] if ":" in sender_id else ""
    digest = hashlib.sha256(sender_id.encode("utf-8")).hexdigest()[:12]
    return f"{channel}:{digest}" if channel else digest


def cutoffs(settings: Settings, now: datetime) -> RetentionCutoffs:
    def days(n: int) -> datetime:
        return now - timedelta(days=n)

    return RetentionCutoffs(
        transcripts=days(settings.retain_transcript_days),
        outbox=days(settings.retain_outbox_days),
        unanswered=days(settings.retain_unanswered_days),
        cases=days(settings.retain_case_days),
        statistics=days(settings.retain_statistics_days),
    )


def summary(counts: dict[str, int | None]) -> str:
    """``table=n`` pairs (``n/a`` for a store that was not there): safe to log and to audit."""
    return " ".join(f"{table}={'n/a' if n is None else n}" for table, n in counts.items())


class DataLifecycle:
    def __init__(
        self,
        settings: Settings,
        store: CaseStore,
        accounts: Accounts,
        tracker: RasaTracker | None = None,
        clock=datetime.now,
    ) -> None:
        self.settings, self.store, self.accounts, self.tracker, self._clock = settings, store, accounts, tracker, clock

    def prune(self, by: str = "cli") -> dict[str, int | None]:
        """Delete everything past its retention period; the rows deleted per table."""
        now = self._clock()
        counts: dict[str, int | None] = dict(self.store.prune(cutoffs(self.settings, now)))
        counts |= self.accounts.prune(now - timedelta(days=self.settings.retain_audit_days))
        if self.tracker is not None:
            counts[TRACKER] = self.tracker.prune(now - timedelta(days=self.settings.retain_tracker_days))
        self.accounts.audit(by, "data_prune", None, summary(counts))
        logger.info("data_prune %s", summary(counts))
        return counts

    def erase(self, who: str, by: str = "cli") -> dict[str, int | None]:
        """Erase one citizen's data on request (PIPL art. 47): ``who`` is a sender id (``tg:123``) or
        a phone number given in an application or booking (every sender that gave it is erased).

        The audit log records the request by pseudonym, never the id or number itself.

        Raises:
            NotACitizen: ``who`` is neither a sender id nor a phone number.
        """
        if ":" in who:
            who = who.strip()
            senders, keys = {who}, set()
        elif phone := parse_phone(who):
            who, senders = phone, self.store.senders_with_phone(phone)
            keys = {phone_key(phone)}  # the phone's uses of the daily caps
        else:
            raise NotACitizen()
        counts: dict[str, int | None] = {"senders": len(senders)}
        keys |= {p for s in senders for p in (hashed(s), _unkeyed_pseudonym(s))}
        counts |= self.store.erase(senders, keys)
        if self.tracker is not None:
            counts[TRACKER] = self.tracker.erase(senders)
        self.accounts.audit(by, "data_erase", hashed(who), summary(counts))
        logger.info("data_erase %s", summary(counts))
        return counts
