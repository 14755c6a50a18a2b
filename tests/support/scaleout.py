"""Scale-out on real engines: two Rasa servers and two action servers behind nginx, PostgreSQL as
the tracker and record store, Redis as Rasa's lock store (docs/scale-out.md).

``ScaleOut`` is a :class:`~tests.support.stack.Stack` whose ``rasa_url`` and action endpoint are
nginx's two ports; behind them run the instances, each started by the Stack's own code. Used by
``tests/integration/test_scaleout.py``; ``python -m tests.support.scaleout`` starts it by hand.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.stack import ROOT, Stack, free_port, wait_for

NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
ENDPOINTS = "deploy/endpoints.scaleout.yml"  # relative to the project root, where Rasa runs
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: A Redis database number of its own, so the lock keys never meet anybody else's.
DEFAULT_REDIS_DB = 7


class ServiceUnavailable(RuntimeError):
    """PostgreSQL, Redis or nginx is missing and could not be started."""


def listening(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_listening(host: str, port: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(host, port):
            return True
        time.sleep(0.5)
    return False


def find_nginx() -> str | None:
    """Debian installs nginx in /usr/sbin, which is not on an unprivileged user's PATH."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None)


def _distinct_ports(count: int, taken: set[int]) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in taken and port not in ports:
            ports.append(port)
    return ports


def render_nginx_conf(
    template: str,
    prefix: Path,
    rasa_listen: str,
    actions_listen: str,
    rasa_servers: list[str],
    action_servers: list[str],
) -> str:
    """The template with its ``@NAME@`` placeholders filled in (comment lines are left alone)."""

    def servers(addresses: list[str]) -> str:
        return "\n".join(f"        server {a} max_fails=3 fail_timeout=10s;" for a in addresses)

    values = {
        "PREFIX": str(prefix),
        "RASA_LISTEN": rasa_listen,
        "ACTIONS_LISTEN": actions_listen,
        "RASA_SERVERS": servers(rasa_servers),
        "ACTION_SERVERS": servers(action_servers),
    }
    lines = []
    for line in template.splitlines():
        if not line.lstrip().startswith("#"):
            line = re.sub(r"@([A-Z_]+)@", lambda m: values.get(m.group(1), m.group(0)), line)
            if left := re.findall(r"@[A-Z_]+@", line):
                raise ValueError(f"unknown placeholder in the nginx template: {left[0]}")
        lines.append(line)
    return "\n".join(lines) + "\n"


class ScaleOut(Stack):
    """Two action servers and two Rasa servers (by default) behind nginx, on PostgreSQL and Redis.

    ``rasa_url`` is nginx's Rasa port and ``ACTION_ENDPOINT_URL`` nginx's action port, so
    :meth:`say`, :meth:`start_web` and the Rasa servers all go through the load balancer.
    """

    def __init__(
        self,
        tmp: Path,
        postgres_url: str | None = None,
        redis_host: str = "127.0.0.1",
        redis_port: int = 6379,
        redis_db: int | None = None,
        rasa_servers: int = 2,
        action_servers: int = 2,
        endpoints: str = ENDPOINTS,
    ) -> None:
        from sqlalchemy.engine import make_url

        super().__init__(tmp)  # rasa_port / action_port: the load balancer's two ports
        ports = _distinct_ports(rasa_servers + action_servers, {self.rasa_port, self.action_port})
        self.rasa_backends = {f"rasa-{i}": ports[i - 1] for i in range(1, rasa_servers + 1)}
        self.action_backends = {f"actions-{i}": ports[rasa_servers + i - 1] for i in range(1, action_servers + 1)}
        self.endpoints = endpoints
        run = uuid.uuid4().hex[:10]

        self.postgres_url = (
            postgres_url
            or os.environ.get("LEGAL_TRIAGE_SCALEOUT_POSTGRES_URL")
            or os.environ.get("LEGAL_TRIAGE_TEST_POSTGRES_URL")
            or DEFAULT_POSTGRES_URL
        )
        base = make_url(self.postgres_url)
        self.postgres_host, self.postgres_port = base.host or "127.0.0.1", base.port or 5432
        self.tracker_db, self.records_db = f"lt_scaleout_{run}_tracker", f"lt_scaleout_{run}_records"
        #: Our record store (the app's psycopg 3 driver).
        self.records_url = base.set(database=self.records_db).render_as_string(hide_password=False)
        self._tracker_app_url = base.set(database=self.tracker_db).render_as_string(hide_password=False)
        #: Rasa's tracker store (Rasa's psycopg2: the plain ``postgresql://`` scheme).
        self.tracker_url = base.set(drivername="postgresql", database=self.tracker_db).render_as_string(
            hide_password=False
        )

        self.redis_host, self.redis_port = redis_host, redis_port
        self.redis_db = (
            redis_db
            if redis_db is not None
            else int(os.environ.get("LEGAL_TRIAGE_SCALEOUT_REDIS_DB", DEFAULT_REDIS_DB))
        )
        self.redis_key_prefix = f"ltscaleout{run}"  # Rasa accepts letters and digits only

        self.env.update(
            {
                "LEGAL_TRIAGE_DATABASE_URL": self.records_url,
                "RASA_TRACKER_DIALECT": "postgresql",
                "RASA_TRACKER_URL": self.tracker_url,
                "RASA_TRACKER_DB": self.tracker_db,
                "RASA_LOCK_STORE_HOST": redis_host,
                "RASA_LOCK_STORE_PORT": str(redis_port),
                "RASA_LOCK_STORE_DB": str(self.redis_db),
                "RASA_LOCK_STORE_PASSWORD": os.environ.get("RASA_LOCK_STORE_PASSWORD", ""),
                "RASA_LOCK_STORE_KEY_PREFIX": self.redis_key_prefix,
            }
        )
        self.nginx_dir = tmp / "nginx"
        self._databases: list[str] = []
        self._started_services: list[list[str]] = []  # commands that stop what start_all started

    # ---- addresses ------------------------------------------------------------------------
    @property
    def actions_url(self) -> str:
        """nginx's action-server port (what ``ACTION_ENDPOINT_URL`` points at, minus ``/webhook``)."""
        return f"http://127.0.0.1:{self.action_port}"

    def backend_names(self) -> dict[str, str]:
        """``127.0.0.1:PORT`` (as nginx logs ``$upstream_addr``) → instance name."""
        return {f"127.0.0.1:{port}": name for name, port in {**self.rasa_backends, **self.action_backends}.items()}

    # ---- PostgreSQL, Redis, nginx ---------------------------------------------------------
    def ensure_postgres(self) -> None:
        host, port = self.postgres_host, self.postgres_port
        if listening(host, port):
            return
        tried = "it is not on this machine"
        if host in ("127.0.0.1", "localhost", "::1") and shutil.which("pg_lsclusters"):
            tried = "no PostgreSQL cluster on this machine uses that port"
            lines = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout
            for line in lines.splitlines():
                version, cluster, cluster_port, *_ = line.split() + ["", "", ""]
                if cluster_port == str(port):
                    done = subprocess.run(["pg_ctlcluster", version, cluster, "start"], capture_output=True, text=True)
                    tried = f"`pg_ctlcluster {version} {cluster} start` said: {(done.stdout + done.stderr).strip()}"
                    if _wait_listening(host, port):
                        self._started_services.append(["pg_ctlcluster", version, cluster, "stop"])
                        return
        raise ServiceUnavailable(
            f"PostgreSQL is not listening on {host}:{port} and could not be started ({tried}). Start it "
            "(Debian: apt-get install postgresql; pg_ctlcluster 15 main start) or point "
            "LEGAL_TRIAGE_SCALEOUT_POSTGRES_URL at a server."
        )

    def ensure_redis(self) -> None:
        host, port = self.redis_host, self.redis_port
        if listening(host, port):
            return
        tried = "it is not on this machine"
        server = shutil.which("redis-server")
        if host in ("127.0.0.1", "localhost") and server:
            # A throw-away server: loopback only, nothing saved to disk; stopped by stop_all().
            done = subprocess.run(
                [
                    server,
                    "--daemonize",
                    "yes",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.tmp),
                    "--logfile",
                    str(self.tmp / "redis.log"),
                ],
                capture_output=True,
                text=True,
            )
            tried = f"`redis-server --daemonize yes` said: {(done.stdout + done.stderr).strip() or 'nothing'}"
            if _wait_listening(host, port, timeout=15):
                self._started_services.append(["redis-cli", "-h", host, "-p", str(port), "shutdown", "nosave"])
                return
        elif host in ("127.0.0.1", "localhost"):
            tried = "redis-server is not installed (Debian: apt-get install redis-server)"
        raise ServiceUnavailable(f"Redis is not listening on {host}:{port} and could not be started ({tried}).")

    def _create_databases(self) -> None:
        from sqlalchemy import create_engine, text

        from bot.storage.sql import upgrade

        admin = create_engine(self.postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for name in (self.tracker_db, self.records_db):
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                    self._databases.append(name)
        finally:
            admin.dispose()
        upgrade(self.records_url)

    def _drop_databases(self) -> None:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                while self._databases:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{self._databases.pop()}" WITH (FORCE)'))
        finally:
            admin.dispose()

    def _clear_lock_keys(self) -> None:
        """Rasa deletes a conversation's lock when nobody waits; remove any left by a killed server."""
        cli = shutil.which("redis-cli")
        if not cli or not listening(self.redis_host, self.redis_port):
            return
        base = [cli, "-h", self.redis_host, "-p", str(self.redis_port), "-n", str(self.redis_db)]
        keys = subprocess.run(
            [*base, "--scan", "--pattern", f"{self.redis_key_prefix}:*"], capture_output=True, text=True
        ).stdout.split()
        if keys:
            subprocess.run([*base, "del", *keys], capture_output=True)

    def _wait_for_tracker_table(self, rasa_name: str, timeout: float = 120) -> None:
        """Rasa creates its ``events`` table at start-up; the first server does it alone."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self._tracker_app_url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                proc = self.procs.get(rasa_name)
                if proc is not None and proc.poll() is not None:
                    return  # it died: its own start-up reports why
                with engine.connect() as conn:
                    if conn.execute(text("SELECT to_regclass('public.events')")).scalar() is not None:
                        return
                time.sleep(1)
        finally:
            engine.dispose()

    # ---- nginx ----------------------------------------------------------------------------
    def write_nginx_conf(self) -> Path:
        for sub in ("", "tmp"):
            (self.nginx_dir / sub).mkdir(parents=True, exist_ok=True)
        conf = render_nginx_conf(
            NGINX_TEMPLATE.read_text(encoding="utf-8"),
            self.nginx_dir,
            rasa_listen=f"127.0.0.1:{self.rasa_port}",
            actions_listen=f"127.0.0.1:{self.action_port}",
            rasa_servers=[f"127.0.0.1:{p}" for p in self.rasa_backends.values()],
            action_servers=[f"127.0.0.1:{p}" for p in self.action_backends.values()],
        )
        path = self.nginx_dir / "nginx.conf"
        path.write_text(conf, encoding="utf-8")
        return path

    def start_nginx(self) -> None:
        nginx = find_nginx()
        if not nginx:
            raise ServiceUnavailable("nginx is not installed: run `make nginx` (Debian's nginx-light)")
        conf = self.write_nginx_conf()
        argv = [nginx, "-p", str(self.nginx_dir), "-c", str(conf)]
        check = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejects {conf}:\n{check.stdout}{check.stderr}")
        self._spawn("nginx", [*argv, "-g", "daemon off;"], None)
        log = self.tmp / "nginx.log"
        wait_for(f"{self.rasa_url}/", self.procs["nginx"], log, timeout=30)
        wait_for(f"{self.actions_url}/health", self.procs["nginx"], log, timeout=30)

    def access_log(self, pool: str) -> list[dict[str, str]]:
        """nginx's access log of one pool (``rasa`` or ``actions``), one dict per request; ``upstream``
        is the instance that answered (the last one tried)."""
        path = self.nginx_dir / f"{pool}_access.log"
        names = self.backend_names()
        entries = []
        for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
            time_, port, method, route, status, *fields = line.split(" ")
            entry = {"time": time_, "port": port, "method": method, "route": route, "status": status}
            entry.update(field.split("=", 1) for field in fields if "=" in field)
            # after a retry nginx lists every instance tried: "A, B" (split by the space above too)
            addresses = [a.strip(",") for a in line.split("upstream=", 1)[1].split(" upstream_status=")[0].split()]
            entry["upstream"] = names.get(addresses[-1], addresses[-1]) if addresses else "-"
            entries.append(entry)
        return entries

    # ---- the whole thing ------------------------------------------------------------------
    def start_all(self) -> dict[str, float]:
        """Check (or start) PostgreSQL and Redis, make fresh databases, start the action servers and
        Rasa servers, then nginx; returns start-up times in seconds."""
        times: dict[str, float] = {}
        began = time.perf_counter()
        if not find_nginx():
            raise ServiceUnavailable("nginx is not installed: run `make nginx` (Debian's nginx-light)")
        self.ensure_postgres()
        self.ensure_redis()
        self._create_databases()
        times["databases"] = time.perf_counter() - began

        def timed(name: str, start, *args) -> None:
            t0 = time.perf_counter()
            start(name, *args)
            times[name] = time.perf_counter() - t0

        # All in parallel, except that the second Rasa server waits until the first has created the
        # tracker table (two servers creating it at once make Rasa log errors and retry).
        rasa = list(self.rasa_backends.items())
        with ThreadPoolExecutor(len(self.action_backends) + len(rasa)) as pool:
            futures = [
                pool.submit(timed, name, self.start_actions, port) for name, port in self.action_backends.items()
            ]
            futures.append(pool.submit(timed, rasa[0][0], self.start_rasa, rasa[0][1], self.endpoints))
            self._wait_for_tracker_table(rasa[0][0])
            futures += [pool.submit(timed, name, self.start_rasa, port, self.endpoints) for name, port in rasa[1:]]
            for future in futures:
                future.result()
        t0 = time.perf_counter()
        self.start_nginx()
        times["nginx"] = time.perf_counter() - t0
        times["total"] = time.perf_counter() - began
        return times

    def stop_all(self) -> None:
        """Stop every process (their process groups), drop the databases, remove lock keys, and
        stop PostgreSQL or Redis if start_all started them."""
        super().stop_all()
        errors = []
        for step in (self._drop_databases, self._clear_lock_keys):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                errors.append(f"{step.__name__}: {exc}")
        while self._started_services:
            subprocess.run(self._started_services.pop(), capture_output=True)
        if errors:
            raise RuntimeError("; ".join(errors))


def main() -> None:
    """Run the scale-out stack by hand until Ctrl-C or SIGTERM; then stop it and drop its databases."""
    import signal
    import sys
    import tempfile

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tmp = Path(tempfile.mkdtemp(prefix="legal-triage-scaleout-"))
    stack = ScaleOut(tmp)
    try:
        times = stack.start_all()
        print(f"started in {times['total']:.0f} s; logs in {tmp}")
        print(f"  Rasa (REST, API) via nginx  {stack.rasa_url}/webhooks/rest/webhook")
        print(f"  actions via nginx           {stack.actions_url}/webhook")
        for name, port in {**stack.rasa_backends, **stack.action_backends}.items():
            print(f"  {name:<27} http://127.0.0.1:{port}")
        print("Press Ctrl-C to stop.")
        while all(p.poll() is None for p in stack.procs.values()):
            time.sleep(1)
        print("A process exited; stopping.")
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop_all()


if __name__ == "__main__":
    main()
