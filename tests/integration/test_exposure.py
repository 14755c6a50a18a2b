"""What the stack exposes: every process listens on loopback only, and Rasa's HTTP API needs its token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_every_process_listens_on_loopback_only(stack, web_url):
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1 (as /proc writes them)
    for port in (stack.rasa_port, stack.action_port, int(web_url.rsplit(":", 1)[1])):
        addresses = listening_addresses(port)
        assert addresses and addresses <= loopback, (port, addresses)


def test_rasa_http_api_needs_the_token(stack):
    path = f"{stack.rasa_url}/conversations/web:probe/tracker"
    assert httpx.get(path, timeout=30).status_code == 401
    assert httpx.get(path, params={"token": "guess"}, timeout=30).status_code in (401, 403)
    assert httpx.get(path, params={"token": stack.env["LEGAL_TRIAGE_RASA_TOKEN"]}, timeout=30).status_code == 200
