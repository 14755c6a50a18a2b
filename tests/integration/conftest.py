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


@pytest.fixture(scope="session")
def web_url(stack) -> str:
    """The real web app (``legal-triage web``) in front of the stack's Rasa."""
    return stack.start_web()


@pytest.fixture
def staff_api(web_url):
    """A client for the staff JSON API, authenticated as the first test staff member."""
    import httpx

    from legal_triage.stack import STAFF_TOKENS

    name, token = next(iter(STAFF_TOKENS.items()))
    with httpx.Client(base_url=f"{web_url}/api/staff", headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as client:
        client.staff_name = name
        yield client
