"""``python -m bench.fresh_clone``: the time from a fresh clone to the bot's first answer.

Clones the repository's committed HEAD into a temporary folder, runs ``make setup`` there (both
virtual environments, the embedding model and its ONNX export, the FAQ and statute indexes, the topic
classifier, the database, the Rasa model), starts ``scripts/run.sh`` on ports of its own and asks the
web chat a real-length question until an answer comes. Prints the three times as JSON (and writes
them to ``results/fresh_clone.json``). Packages come from pip's cache when this machine has one:
the figure is for a machine that installed them before (say so when reporting it).

Not part of ``make bench`` (it takes the length of a set-up); run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bot.settings import PROJECT_ROOT

QUESTION = "我在工地上干了三个多月，老板一直拖着工资不给，说等工程款下来再结，我该怎么办"
PORTS = {"RASA_PORT": "5205", "ACTION_PORT": "5255", "LEGAL_TRIAGE_WEB_PORT": "8200"}


def first_answer(url: str, deadline: float) -> str:
    """The bot's first answer to ``QUESTION`` through the web chat, waiting for the stack to come up."""
    while time.monotonic() < deadline:
        try:
            response = httpx.post(f"{url}/api/chat", json={"message": QUESTION}, timeout=60)
            texts = [m.get("text", "") for m in response.json().get("messages", [])]
            if response.status_code == 200 and texts and "稍后再试" not in texts[0]:
                return texts[0]
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError("no answer before the deadline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone (printed) instead of removing it")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="legal-triage-fresh-"))
    clone = work / "legal-triage"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEGAL_TRIAGE_", "RASA_", "VIRTUAL_ENV"))}
    env |= PORTS
    started = time.monotonic()
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True)
    with (work / "setup.log").open("w") as log:
        subprocess.run(["make", "setup"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    set_up = time.monotonic()
    with (work / "run.log").open("w") as log:
        run = subprocess.Popen(
            ["scripts/run.sh"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        answer = first_answer(f"http://127.0.0.1:{PORTS['LEGAL_TRIAGE_WEB_PORT']}", time.monotonic() + 600)
        answered = time.monotonic()
    finally:
        os.killpg(run.pid, signal.SIGINT)  # run.sh stops its processes on Ctrl-C
        run.wait(timeout=60)
    figures = {
        "clone_and_setup_s": round(set_up - started, 1),
        "start_to_first_answer_s": round(answered - set_up, 1),
        "clone_to_first_answer_s": round(answered - started, 1),
        "first_answer_chars": len(answer),
        "clone": str(clone) if args.keep else None,
    }
    if not args.keep:
        subprocess.run(["rm", "-rf", str(work)], check=True)
    (PROJECT_ROOT / "results").mkdir(exist_ok=True)
    (PROJECT_ROOT / "results" / "fresh_clone.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
