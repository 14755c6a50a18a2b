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


def post_login(client, username: str, password: str = PASSWORD, origin: str = "", **form):
    """Post the login form as a browser does: open the login page first (its CSRF token, in the form and
    in a cookie), then submit. ``origin`` e.g. ``"https://testserver"``."""
    page = client.get(f"{origin}/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    data = {"username": username, "password": password, "csrf": token.group(1) if token else "", **form}
    return client.post(f"{origin}/console/login", data=data)


def login(client, username="wang") -> str:
    """Log ``username`` in through the real login form; returns the session's CSRF token."""
    response = post_login(client, username)
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    match = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/account").text)
    assert page.status_code == 200 and match
    return match.group(1)
