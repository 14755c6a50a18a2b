"""Data files hold citizens' personal information: what the ``legal-triage`` command creates is
readable by its owner only (umask 077), whatever the umask it was started with."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from bot.entrypoints import cli
from bot.settings import PROJECT_ROOT, get_settings


@pytest.fixture
def permissive_umask(tmp_path, monkeypatch):
    data = tmp_path / "data"  # not there yet: the command creates it
    monkeypatch.setenv("LEGAL_TRIAGE_DATA_DIR", str(data))
    monkeypatch.delenv("LEGAL_TRIAGE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    before = os.umask(0o022)  # the usual default: files world-readable
    yield data
    os.umask(before)
    get_settings.cache_clear()


def test_the_database_and_data_folder_are_not_group_or_world_readable(permissive_umask):
    assert cli.main(["db", "upgrade"]) == 0
    database = permissive_umask / "bot.db"
    for path in (permissive_umask, database):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, oct(path.stat().st_mode)


def test_scripts_env_sh_sets_it_for_every_process_and_keeps_the_pseudonym_secret_private(tmp_path):
    env = {"PATH": os.environ["PATH"], "LEGAL_TRIAGE_DATA_DIR": str(tmp_path / "data"), "RASA_TOKEN": "t"}
    done = subprocess.run(
        ["bash", "-c", "umask 022; source scripts/env.sh && umask && echo $LEGAL_TRIAGE_PSEUDONYM_SECRET"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    mask, secret = done.stdout.split()
    assert mask == "0077" and len(secret) == 64
    assert (tmp_path / "data" / "pseudonym_secret").read_text() == secret
    for path in (tmp_path / "data", tmp_path / "data" / "pseudonym_secret"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
