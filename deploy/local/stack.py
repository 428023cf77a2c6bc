"""Start and stop Picasso's embedded stack: real local servers on 127.0.0.1 (or another
address, in a network namespace: see :class:`Stack`), one per cloud part.

What each server is, how it is launched and how its readiness is checked is its recipe, one
module per server in :mod:`deploy.local.servers`. This module orchestrates them: ports,
start-up in parallel, stop, and one server's stop, kill or start again (the supervisor's and
fault tests' tools), and the environment that points Picasso's settings at the servers.
Every server runs as a :class:`deploy.local.processes.Process`, the same kind of child as
Picasso's own workers and edges.

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
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from deploy.local.netns import call_in
from deploy.local.processes import Process, ProcessAbandoned, ProcessError
from deploy.local.servers import RECIPES, mariadb, s3, smtp, stripe
from deploy.local.servers.base import HOST, TTL_SWEEP_S, Site, StackError, free_ports
from picasso.settings import LOCAL_DEFAULTS, LOCAL_PORTS, Settings, mysql_shards

__all__ = ["SERVICES", "Stack", "StackError", "free_ports", "main"]

SERVICES: tuple[str, ...] = tuple(RECIPES)
"""Every service the embedded stack knows, in the order they are reported."""

class _Abandoned(StackError):
    """A start given up because another service failed or :meth:`Stack.stop` was called."""


@dataclass
class _Running:
    """A server this stack started, and what to tidy once it has stopped."""

    process: Process
    cleanup: Callable[[], None] | None


class Stack:
    """The embedded servers for one data directory: start them, point Picasso at them, stop them.

    ``ports`` maps service name to port (default :data:`picasso.settings.LOCAL_PORTS`);
    ``services`` chooses which servers run (default all of :data:`SERVICES`); ``log`` receives
    one-line progress messages. ``stripe_webhook_url``, if given, is registered with
    localstripe as soon as it answers (see :meth:`register_stripe_webhook`).

    ``host`` is the address every server binds and is reached at (default 127.0.0.1);
    ``netns``, a network namespace (:mod:`deploy.local.netns`) the servers run in, ``host``
    being one of its addresses: then they and the checks that they answer run inside it.

    ``ttl_sweep_s`` is how often the MongoDB server removes what its TTL indexes expired
    (60 s, as mongod's monitor); the suite's stack shortens it, so that a test of the
    inboxes' window waits seconds for the pass instead of a minute.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        ports: Mapping[str, int] | None = None,
        services: Iterable[str] = SERVICES,
        log: Callable[[str], object] = print,
        stripe_webhook_url: str | None = None,
        host: str = HOST,
        netns: str | None = None,
        ttl_sweep_s: float = TTL_SWEEP_S,
    ) -> None:
        if ttl_sweep_s <= 0:
            raise ValueError(f"ttl_sweep_s must be positive, not {ttl_sweep_s}")
        self.data_dir = Path(data_dir).absolute()
        self.ttl_sweep_s = ttl_sweep_s
        self.host = host
        self.netns = netns
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
        if stripe_webhook_url is not None:
            stripe.check_webhook_url(stripe_webhook_url)
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
            running = list(self._running.items())
            self._running.clear()
        # In parallel: secantusd alone takes about 2 s to shut down.
        threads = [
            threading.Thread(target=self._stop, args=(name, r, False), name=f"stop-{name}")
            for name, r in running
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def stop_service(self, name: str) -> None:
        """Stop one running server (SIGTERM, then SIGKILL after the grace period); its port
        and files stay reserved for :meth:`start_service`. Used by the supervisor and by
        fault tests; does nothing if ``name`` is not running."""
        with self._lock:
            running = self._running.pop(name, None)
        if running is not None:
            self._stop(name, running, False)

    def kill_service(self, name: str) -> None:
        """SIGKILL one running server, as a crash would, and reap it."""
        with self._lock:
            running = self._running.pop(name, None)
        if running is not None:
            self._stop(name, running, True)

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
        process = self.process(name)
        return process is not None and process.running()

    def process(self, name: str) -> Process | None:
        """The process of the server ``name``, if this stack started it and has not stopped
        it (it may have died since: see :meth:`Process.running`)."""
        with self._lock:
            running = self._running.get(name)
        return running.process if running is not None else None

    def env(self) -> dict[str, str]:
        """Environment variables that make ``Settings.from_env`` use these servers.

        They include ``PICASSO_ENV=local``: these servers are the emulator and the
        stand-ins that Settings accepts only then (tests override it with ``test``). Each
        is a variable Settings reads (tests/unit/test_settings.py checks it)."""
        env = {
            "PICASSO_ENV": "local",
            "PICASSO_DATA_DIR": str(self.data_dir),
            "FIREBASE_PROJECT_ID": LOCAL_DEFAULTS["FIREBASE_PROJECT_ID"],
        }
        ports = self.ports
        if "kafka" in ports:
            env["KAFKA_BOOTSTRAP"] = f"{self.host}:{ports['kafka']}"
            # This broker keeps messages in memory only: edges journal what they accept, so
            # that it can be put back after the broker restarts (web.journal).
            env["BROKER_JOURNAL_DIR"] = str(self.data_dir / "journal")
        if "mongodb" in ports:
            env["MONGODB_URL"] = f"mongodb://{self.host}:{ports['mongodb']}"
        if "mariadb" in ports:
            env["MYSQL_SHARDS"] = mysql_shards(self.mysql_url)
        if "s3" in ports:
            endpoint = s3.endpoint(ports["s3"], self.host)
            env.update(
                BLOB_BACKEND="s3",
                S3_ENDPOINT_URL=endpoint,
                S3_BUCKET=s3.BUCKET,
                S3_REGION=s3.REGION,
                PUBLIC_MEDIA_URL=f"{endpoint}/{s3.BUCKET}",
                **s3.CREDENTIALS,
            )
        else:
            env.update(BLOB_BACKEND="dir", BLOB_DIR=str(self.data_dir / "blobs"))
        if "firebase_auth" in ports:
            # Only ever set for the emulator: firebase-admin then trusts unsigned tokens.
            env["FIREBASE_AUTH_EMULATOR_HOST"] = f"{self.host}:{ports['firebase_auth']}"
        if "stripe" in ports:
            env["STRIPE_API_BASE"] = stripe.api_base(ports["stripe"], self.host)
            env.update({name: LOCAL_DEFAULTS[name] for name in (
                "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")})
        if "smtp" in ports:
            env.update(SMTP_HOST=self.host, SMTP_PORT=str(ports["smtp"]), MAILDIR=str(self.maildir))
        return env

    @property
    def maildir(self) -> Path:
        """The Maildir where the local SMTP server keeps every message it accepts."""
        return smtp.maildir(self.data_dir)

    @property
    def mysql_url(self) -> str:
        """The MariaDB server as root, without a database (``mysql://root@127.0.0.1:port``):
        append ``/<database>`` for a shard DSN of one's own (``MYSQL_SHARDS``)."""
        return mariadb.server_url(self.ports["mariadb"], self.host)

    def register_stripe_webhook(self, url: str) -> None:
        """Have localstripe POST signed events to ``url``, now and after every later start.

        The events are :data:`deploy.local.servers.stripe.WEBHOOK_EVENTS`, signed with
        ``STRIPE_WEBHOOK_SECRET`` (check them with ``stripe.Webhook.construct_event``).
        localstripe keeps webhooks in memory, so the URL is remembered and registered again
        whenever the stack starts; a second call replaces the first URL. localstripe must be
        running (raises :class:`StackError` otherwise; ``ValueError`` for a URL that is not
        http(s)); before :meth:`start`, pass ``stripe_webhook_url`` to the constructor instead.
        """
        stripe.check_webhook_url(url)
        if "stripe" not in self.services:
            raise StackError("stripe is not one of this stack's services")
        with self._lock:
            running = "stripe" in self._running
        if not running:
            raise StackError("stripe is not running; start() the stack first")
        call_in(self.netns, lambda: stripe.register_webhook(
            self.ports["stripe"], url, self._log, self.host))
        self._stripe_webhook_url = url

    def pids(self) -> dict[str, int]:
        """The process id of each server currently started by this stack."""
        with self._lock:
            return {name: r.process.pid for name, r in self._running.items()}

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

    # -- starting and stopping one server ---------------------------------------------------

    def _check_ports_free(self) -> None:
        # A clear message beats a server dying with "address in use" deep in its log, and
        # the usual cause is a stack that is already running.
        def busy_ports() -> list[str]:
            busy = []
            for name, port in self.ports.items():
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        sock.bind((self.host, port))
                    except OSError:
                        busy.append(f"{name} ({self.host}:{port})")
            return busy

        busy = call_in(self.netns, busy_ports)
        if busy:
            raise StackError(
                f"port(s) already in use: {', '.join(busy)}; is another stack running?"
            )

    def _start_service(self, name: str) -> None:
        began = time.monotonic()
        recipe = RECIPES[name]
        port = self.ports[name]
        workdir = self.data_dir / name
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(name)
        with open(log_path, "ab") as log_file:
            site = Site(name, port, workdir, self.data_dir, log_file, self._log,
                        stripe_webhook_url=lambda: self._stripe_webhook_url,
                        bind=self.host, advertise=self.host, ttl_sweep_s=self.ttl_sweep_s)
            try:
                launch = recipe.prepare(site)
            except subprocess.SubprocessError as exc:
                raise StackError(f"{name}: set-up failed: {exc}; log {log_path}") from exc
        process = Process(name, launch.argv, {**os.environ, **launch.env}, log_path,
                          cwd=launch.cwd, log=lambda line: self._log(f"stack: {line}"),
                          netns=self.netns)
        with self._lock:
            if self._stopping.is_set():
                raise _Abandoned(f"{name}: start abandoned")
            try:
                process.start()
            except OSError as exc:
                raise StackError(f"{name}: could not run {launch.argv[0]}: {exc}") from exc
            self._running[name] = _Running(process, launch.cleanup)
        def answers() -> bool:
            launch.probe()  # raises until the server answers
            return True

        try:
            process.wait_until(answers, recipe.ready_timeout_s,
                               f"answering on {self.host}:{port}", abandon=self._stopping.is_set)
        except ProcessAbandoned as exc:
            raise _Abandoned(str(exc)) from None
        except ProcessError as exc:
            raise StackError(str(exc)) from None
        if launch.after_ready is not None:
            try:
                call_in(self.netns, launch.after_ready)
            except Exception as exc:
                raise StackError(f"{name}: set-up after start failed: {exc!r}") from exc
        elapsed = time.monotonic() - began
        self.startup_seconds[name] = elapsed
        self._log(f"stack: {name} ready on {self.host}:{port} in {elapsed:.2f}s "
                  f"(pid {process.pid})")

    def _stop(self, name: str, running: _Running, crash: bool) -> None:
        process, began = running.process, time.monotonic()
        if crash:
            process.kill()
        else:
            process.stop()
        if running.cleanup is not None:
            running.cleanup()
        how = "killed" if crash else f"stopped with {process.exit_status()}"
        self._log(f"stack: {name} (pid {process.pid}) {how} in {time.monotonic() - began:.2f}s")


# -- launcher ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the stack on the local ports until interrupted (Ctrl-C or SIGTERM)."""
    parser = argparse.ArgumentParser(prog="python -m deploy.local.stack", description=main.__doc__)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("PICASSO_DATA_DIR") or Settings().data_dir),
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
