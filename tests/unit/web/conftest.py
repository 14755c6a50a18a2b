"""Fixtures of the web tests: a migrated accounts database with an admin, a staff member and publicity staff."""

from __future__ import annotations

import os

import pytest

from bot.services.accounts import Accounts, Role
from bot.storage.sql import make_engine, upgrade
from tests.support.console import PASSWORD, Clock

# The test client talks plain http://testserver, where a Secure cookie is never sent back: these tests
# turn the (default) Secure flag off, as plain-HTTP development does; test_console_security checks the default.
os.environ.setdefault("LEGAL_TRIAGE_CONSOLE_SECURE_COOKIE", "0")


@pytest.fixture
def accounts(tmp_path):
    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade(url)
    clock = Clock()
    accounts = Accounts(make_engine(url), clock=clock)
    accounts.clock = clock
    for name, role in (("admin", Role.ADMIN), ("wang", Role.STAFF), ("pufa", Role.PUBLICITY)):
        accounts.create(name, PASSWORD, role, display_name=name.upper())
    return accounts
