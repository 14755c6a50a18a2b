"""The real stack for integration tests: the trained Rasa model served by a real Rasa server,
our real action server, the real embedding model and FAQ index, and a fresh SQLite database."""

from __future__ import annotations

import pytest

from legal_triage.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("stack"))
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()
