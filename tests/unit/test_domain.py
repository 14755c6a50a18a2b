"""The one label map: every case status has one short name for staff and one sentence for citizens."""

from __future__ import annotations

from bot.domain import STATUS_LABELS, STATUS_NAMES, ApplicationStatus, BookingStatus
from bot.web.console import stats


def test_every_case_status_has_one_name_and_one_citizen_label():
    statuses = {s.value for s in ApplicationStatus} | {s.value for s in BookingStatus}
    assert set(STATUS_NAMES) == statuses == set(STATUS_LABELS)


def test_the_statistics_use_the_console_names():
    assert stats.APPLICATION_LABELS["accepted"] == STATUS_NAMES["accepted"]
    assert {**stats.APPLICATION_LABELS, **stats.BOOKING_LABELS} == STATUS_NAMES
