"""Console test helpers: the staff password every test account has, a settable clock, logging in."""

from __future__ import annotations

import datetime as dt
import re

PASSWORD = "correct-horse-42"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 26, 9, 0)

    def __call__(self) -> dt.datetime:
        return self.now


def login(client, username="wang") -> str:
    """Log ``username`` in through the real login form; returns the session's CSRF token."""
    response = client.post("/console/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    match = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/account").text)
    assert page.status_code == 200 and match
    return match.group(1)
