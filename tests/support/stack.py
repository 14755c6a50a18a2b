"""Start the real processes (action server, Rasa server) on free loopback ports.

Used by the integration tests and by ``make bench``; ``scripts/run.sh`` does the same for users.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from bot.settings import PROJECT_ROOT

ROOT = PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early; log:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not come up; log:\n{log.read_text(errors='replace')[-3000:]}")


RASA_TOKEN = "test-token"
#: The key the web apps sign their chat cookies with (tests sign one to play a known citizen).
WEB_SECRET = "integration-tests-web-secret"
#: Staff API tokens of the test stack: name → bearer token.
STAFF_TOKENS = {"王调解员": "staff-token-1", "李律师": "staff-token-2"}


class Stack:
    def __init__(self, tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp
        self.rasa_port, self.action_port = free_port(), free_port()
        self.rasa_url = f"http://127.0.0.1:{self.rasa_port}"
        kb_dir, models_dir = self._private_knowledge(tmp)
        self.env = {
            **os.environ,
            "LEGAL_TRIAGE_KB_DIR": str(kb_dir),
            "LEGAL_TRIAGE_MODELS_DIR": str(models_dir),
            "LEGAL_TRIAGE_DATA_DIR": str(tmp),
            "LEGAL_TRIAGE_DATABASE_URL": f"sqlite:///{tmp / 'cases.db'}",
            "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{self.action_port}/webhook",
            "RASA_TRACKER_DIALECT": "sqlite",
            "RASA_TRACKER_URL": f"sqlite:///{tmp / 'tracker.db'}",
            "RASA_TRACKER_DB": str(tmp / "tracker.db"),
            "SANIC_HOST": "127.0.0.1",
            "HF_HUB_OFFLINE": "1",
            "RASA_TELEMETRY_ENABLED": "false",  # no network but loopback
            "LEGAL_TRIAGE_RASA_TOKEN": RASA_TOKEN,
            "LEGAL_TRIAGE_STAFF_TOKENS": ",".join(f"{name}:{token}:2999-12-31" for name, token in STAFF_TOKENS.items()),
            "LEGAL_TRIAGE_CONSOLE_SECURE_COOKIE": "0",  # the browser tests use plain http://127.0.0.1
            # one key for every web app the tests start, and across their restarts (as scripts/env.sh keeps one)
            "LEGAL_TRIAGE_WEB_SECRET": WEB_SECRET,
            "LEGAL_TRIAGE_HANDOFF_CHECK_SECONDS": "1",
        }
        self.procs: dict[str, subprocess.Popen] = {}

    @staticmethod
    def _private_knowledge(tmp: Path) -> tuple[Path, Path]:
        """A copy of the knowledge base and the published FAQ index for this stack, so that publishing
        from the console in a test never touches the project's own; the large read-only models are linked."""
        kb_dir, models_dir = tmp / "knowledge_base", tmp / "models"
        if not kb_dir.exists():
            shutil.copytree(ROOT / "knowledge_base", kb_dir)
            models_dir.mkdir()
            shutil.copytree(ROOT / "models" / "faq_index", models_dir / "faq_index")
            for name in ("embedding", "statute_index", "topics"):
                (models_dir / name).symlink_to(ROOT / "models" / name)
        return kb_dir, models_dir

    def _spawn(self, name: str, argv: list[str], health_url: str | None, env: dict[str, str] | None = None) -> None:
        """Start one process in its own process group, logging to ``<name>.log``, and wait for health
        (when it serves HTTP)."""
        log = self.tmp / f"{name}.log"
        with open(log, "ab") as out:  # the child keeps its own copy of the handle
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=env or self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[name] = proc
        if health_url:
            wait_for(health_url, proc, log)

    def start_actions(self, name: str = "actions", port: int | None = None) -> None:
        """Start an action server; another instance needs its own ``name`` and ``port``."""
        port = port or self.action_port
        self._spawn(
            name,
            [str(ROOT / ".venv/app/bin/legal-triage"), "actions", "-p", str(port)],
            f"http://127.0.0.1:{port}/health",
        )

    def start_rasa(self, name: str = "rasa", port: int | None = None, endpoints: str = "endpoints.yml") -> None:
        """Start a Rasa server; another instance needs its own ``name`` and ``port``."""
        port = port or self.rasa_port
        model = ROOT / "models/rasa" / ((ROOT / "models/rasa/latest").read_text().strip() + ".tar.gz")
        self._spawn(
            name,
            [
                str(ROOT / ".venv/rasa/bin/rasa"),
                "run",
                "--enable-api",
                "--auth-token",
                RASA_TOKEN,
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "--model",
                str(model),
                "--endpoints",
                endpoints,
                "--credentials",
                "credentials.yml",
            ],
            f"http://127.0.0.1:{port}/",
            # as scripts/run.sh: one TensorFlow thread per op while serving
            {**self.env, "TF_INTER_OP_PARALLELISM_THREADS": "1", "TF_INTRA_OP_PARALLELISM_THREADS": "1"},
        )

    def channel_env(self, **extra: str) -> dict[str, str]:
        """The environment of a channel process (web app, Telegram worker) of this stack."""
        return {
            **self.env,
            "LEGAL_TRIAGE_RASA_URL": self.rasa_url,
            "LEGAL_TRIAGE_ACTION_SERVER_URL": f"http://127.0.0.1:{self.action_port}",
            **extra,
        }

    def start_web(self, name: str = "web", port: int | None = None, **extra_env: str) -> str:
        """Start the web app (``legal-triage web``) against this stack's Rasa (on ``port``, or a free one);
        returns its URL."""
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        self.staff_accounts()
        self._spawn(
            name,
            [str(ROOT / ".venv/app/bin/legal-triage"), "web"],
            f"{url}/chat",
            self.channel_env(LEGAL_TRIAGE_WEB_PORT=str(port), **extra_env),
        )
        return url

    def staff_accounts(self) -> None:
        """The console accounts the staff API tokens (``STAFF_TOKENS``) act as, created once."""
        from bot.services.accounts import Accounts, Role
        from bot.storage.sql import make_engine, upgrade

        url = self.env["LEGAL_TRIAGE_DATABASE_URL"]
        upgrade(url)
        accounts = Accounts(make_engine(url))
        for name in STAFF_TOKENS:
            if accounts.get(name) is None:
                accounts.create(name, secrets.token_urlsafe(16), Role.STAFF)

    def start_telegram(self, **extra_env: str) -> None:
        """Start the Telegram worker (``legal-triage telegram``); set TELEGRAM_BOT_TOKEN / _BASE_URL."""
        self._spawn(
            "telegram", [str(ROOT / ".venv/app/bin/legal-triage"), "telegram"], None, self.channel_env(**extra_env)
        )

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        # Kill the whole process group: Sanic serves from a spawned worker process that would
        # otherwise outlive its parent (and keep its port and memory).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def rss_mb(self, name: str) -> float:
        """Resident memory of a process and its children, in MiB (from /proc)."""
        pids = [self.procs[name].pid]
        try:
            children = Path(f"/proc/{pids[0]}/task/{pids[0]}/children").read_text().split()
        except OSError:
            children = []
        total = 0
        for pid in pids + [int(c) for c in children]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def say(self, sender: str, text: str) -> list[dict]:
        response = httpx.post(
            f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60
        )
        response.raise_for_status()
        return response.json()

    def start_all(self) -> dict[str, float]:
        """Prepare a fresh database, start both servers; returns each start-up time in seconds."""
        from bot.storage.sql import upgrade

        upgrade(self.env["LEGAL_TRIAGE_DATABASE_URL"])
        times = {}
        for name, start in (("actions", self.start_actions), ("rasa", self.start_rasa)):
            began = time.perf_counter()
            start()
            times[name] = time.perf_counter() - began
        return times

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)
