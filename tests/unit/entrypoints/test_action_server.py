"""The action server's listening address (audit: issue 14, it listened on every interface)."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic

from bot.entrypoints import action_server


@pytest.fixture
def served(monkeypatch) -> list[Sanic]:
    """The apps ``action_server.run`` would serve, prepared as it prepares them, without serving."""
    apps: list[Sanic] = []
    monkeypatch.setattr(Sanic, "test_mode", True)  # the same app name again in one process
    monkeypatch.setattr(Sanic, "serve", classmethod(lambda cls, primary=None, **_: apps.append(primary)))
    return apps


def hosts(app: Sanic) -> list[str]:
    return [info.settings["host"] for info in app.state.server_info]


def test_the_action_server_listens_on_loopback_unless_told(served, monkeypatch):
    monkeypatch.delenv("SANIC_HOST", raising=False)
    action_server.run(ActionExecutor(), 5999, None, None)
    assert hosts(served[-1]) == ["127.0.0.1"]


def test_an_explicit_sanic_host_wins(served, monkeypatch):
    monkeypatch.setenv("SANIC_HOST", "10.0.0.5")  # an action server behind a load balancer (docs/scale-out.md)
    action_server.run(ActionExecutor(), 5999, None, None)
    assert hosts(served[-1]) == ["10.0.0.5"]


def test_warm_up_builds_the_services_then_freezes_what_they_hold(monkeypatch):
    """The loaded models and indexes leave the garbage collector's full scans (``gc.freeze``)."""
    import gc

    searched = []

    class Retriever:
        def search(self, text):
            searched.append(text)

    class Services:
        retriever = Retriever()

    monkeypatch.setattr("bot.composition.get_services", lambda: Services())
    gc.unfreeze()
    try:
        action_server.warm_up()
        assert searched == ["你好"] and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_failed_warm_up_freezes_nothing(monkeypatch):
    import gc

    def broken():
        raise OSError("no index")

    monkeypatch.setattr("bot.composition.get_services", broken)
    gc.unfreeze()
    action_server.warm_up()  # logged; the first action builds the services again
    assert gc.get_freeze_count() == 0
