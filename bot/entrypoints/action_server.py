"""The action server: rasa-sdk's own server and command line, with one addition. As soon as a
Sanic worker is serving, it builds the services (model, indexes, database) in the background, so
the first citizen after a start does not wait seconds for them.

rasa-sdk builds its app in each worker from a factory (Sanic's AppLoader); ``run`` below is
rasa-sdk's ``endpoint.run`` with our factory in place of its own.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from functools import partial

logger = logging.getLogger(__name__)


def warm_up() -> None:
    """Build the services and embed one question; an action needing them waits until this ends.

    Then the objects they hold (about 340,000) are moved out of the garbage collector's reach
    (``gc.freeze``): a full collection over them took 200-250 ms, all of it a pause for every
    message in flight.
    """
    from bot.composition import get_services
    from bot.privacy import ensure_action_logging

    ensure_action_logging()
    started = time.perf_counter()
    try:
        get_services().retriever.search("你好")
    except Exception as exc:  # noqa: BLE001 - the first action builds them again and answers the citizen politely
        logger.warning("warm_up_failed error=%s", type(exc).__name__)
        return
    gc.collect()
    gc.freeze()
    logger.info("warm_up_done seconds=%.1f", time.perf_counter() - started)


async def _start_warm_up(app, _loop) -> None:
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()


def create_app(*args, **kwargs):
    """rasa-sdk's app for one worker, warming up once the worker serves."""
    from rasa_sdk.endpoint import create_app_for_serve

    app = create_app_for_serve(*args, **kwargs)
    app.register_listener(_start_warm_up, "after_server_start")
    return app


def run(action_executor, port: int, cors_origins, endpoints: str) -> None:
    """``rasa_sdk.endpoint.run`` (plain HTTP) with the warming factory, on ``SANIC_HOST`` (default 127.0.0.1)."""
    from rasa_sdk import utils
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    loader = AppLoader(factory=partial(create_app, action_executor, cors_origins=cors_origins, endpoints=endpoints))
    app = loader.load()
    # Loopback unless told otherwise: actions run with the citizens' data and no authentication.
    host = os.environ.get("SANIC_HOST") or "127.0.0.1"
    app.prepare(host=host, port=port, workers=utils.number_of_sanic_workers())
    Sanic.serve(primary=app, app_loader=loader)


def main(argv: list[str] | None = None) -> int:
    """Serve the ``actions`` package; rasa-sdk's options (``-p``, ``--cors``, ``--endpoints``, log
    options) apply, TLS and gRPC are not offered (the server listens on loopback behind Rasa)."""
    from rasa_sdk import utils
    from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
    from rasa_sdk.endpoint import create_argument_parser
    from rasa_sdk.executor import ActionExecutor

    if os.getcwd() not in sys.path:  # as with `python -m rasa_sdk`: the actions package is in the project folder
        sys.path.insert(0, os.getcwd())
    args = create_argument_parser().parse_args(["--actions", "actions", *(argv or [])])
    if args.grpc or args.ssl_certificate:
        raise SystemExit("legal-triage actions: gRPC and TLS are not offered; put TLS in front (docs/scale-out.md)")
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel, args.logging_config_file
    )
    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package(args.actions_module or args.actions)
    run(executor, args.port, args.cors, args.endpoints)
    return 0
