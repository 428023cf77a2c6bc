"""Picasso's own processes (Faust workers and edges) started, watched and stopped by pid.

Shared by the ``make run`` launcher and the tests, so both run the system the same way.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Mapping

from deploy.local.netns import call_in, exec_argv
from deploy.local.servers.base import free_ports
from picasso.domains import DOMAINS, app_module, worker_args
from picasso.metrics import MULTIPROC_DIR_VARIABLE, mark_process_dead
from picasso.settings import LOCAL_PORTS

BIN = Path(sys.executable).parent
_STOP_TIMEOUT_S = 20.0
# Faust prints this once the worker's agents run and its consumer has joined the group.
WORKER_READY_LINE = b"[^Worker]: Ready"


class ProcessError(RuntimeError):
    """A process exited or did not get ready; carries the tail of its log."""


class Process:
    """One child process in a session (and so a process group) of its own, its output
    appended to a log file: started, watched and stopped by pid.

    The one way the local system runs a child, for the stack's servers and for Picasso's
    workers and edges alike. Its own session means a Ctrl-C in the launcher's terminal
    reaches the launcher only, which then stops everything in order; its own group means
    helpers it forks can be found and killed with it. An ended child is reaped only after
    what it left in its group is killed: until then its pid, and so its group id, cannot be
    reused, so signalling the group never hits a stranger.

    With ``netns`` (a network namespace, see :mod:`deploy.local.netns`) it runs on that
    host, through ``ip netns exec`` (which execs: the pid is the program's), and the checks
    of :meth:`wait_until` run inside the namespace too.
    """

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path,
                 cwd: Path | None = None, log: Callable[[str], object] | None = None,
                 netns: str | None = None) -> None:
        self.name = name
        self.netns = netns
        self.argv = exec_argv(netns, argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self._log_offset = 0
        self._say = log or (lambda line: None)
        self._reaping = threading.Lock()
        self._terminated: int | None = None  # the pid that was sent SIGTERM

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        """Start it (again); raises OSError if the program cannot be run."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"--- {stamp} starting {self.name}: "
                      f"{subprocess.list2cmdline(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=self.cwd, start_new_session=True,
            )

    def bound_log(self, max_bytes: int) -> bool:
        """Keep the log under ``max_bytes``: once it is larger, its text moves to
        ``<name>.log.1`` (replacing the one before) and the log starts empty again.

        The child keeps writing to the same file (opened for appending, so its next line
        lands at the new end); a line written between the copy and the truncation is lost.
        Answers whether it rotated."""
        try:
            if self.log_path.stat().st_size <= max_bytes:
                return False
            rotated = self.log_path.with_name(self.log_path.name + ".1")
            with self.log_path.open("rb") as log, rotated.open("wb") as old:
                while chunk := log.read(1 << 20):
                    old.write(chunk)
            os.truncate(self.log_path, 0)
        except OSError:
            return False
        self._log_offset = 0
        return True

    def exit_status(self) -> str | None:
        """How it ended (``exit code 3``, ``signal 9``), or None while it runs; never reaps."""
        if self.proc is None:
            return "not started"
        if self.proc.returncode is not None:
            code = self.proc.returncode
            return f"signal {-code}" if code < 0 else f"exit code {code}"
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped meanwhile, by another thread
            return self.exit_status() if self.proc.returncode is not None else "reaped"
        if info is None:
            return None
        if info.si_code == os.CLD_EXITED:
            return f"exit code {info.si_status}"
        return f"signal {info.si_status}"

    def running(self) -> bool:
        """Whether it runs; one that ended is reaped (after its leftovers are killed)."""
        if self.proc is None:
            return False
        if self.exit_status() is None:
            return True
        self._reap()
        return False

    def log_text(self) -> bytes:
        """What this run of the process has written so far."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_text()
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return b"\n".join(text.splitlines()[-lines:]).decode("utf-8", "replace")

    def wait_until(self, ready: Callable[[], object], timeout: float, what: str,
                   abandon: Callable[[], bool] = lambda: False) -> None:
        """Poll ``ready`` until it returns true; an exception from it counts as "not yet".

        Raises :class:`ProcessError` with the log tail if the process ends first or
        ``timeout`` passes; :class:`ProcessAbandoned` once ``abandon()`` is true."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        last_error: Exception | None = None
        while True:
            if abandon():
                raise ProcessAbandoned(f"{self.name}: start abandoned")
            status = self.exit_status()
            if status is not None:
                raise ProcessError(f"{self.name} exited ({status}) before it was {what}; "
                                   f"log {self.log_path}:\n{self.tail()}")
            try:
                if call_in(self.netns, ready, timeout):
                    return
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last_error = exc
            if time.monotonic() >= deadline:
                last = f" (last error: {last_error!r})" if last_error is not None else ""
                raise ProcessError(f"{self.name} was not {what} after {timeout:.0f}s{last}; "
                                   f"log {self.log_path}:\n{self.tail()}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def terminate(self) -> None:
        """SIGTERM, once per run, without waiting (:meth:`stop` waits)."""
        if self.proc is None or self.proc.returncode is not None:
            return
        if self._terminated != self.proc.pid and self.exit_status() is None:
            self._terminated = self.proc.pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = _STOP_TIMEOUT_S) -> None:
        """SIGTERM, wait, SIGKILL its group if it lingers; then reap it. Does nothing if it
        was not started or is reaped already."""
        if self.proc is None or self.proc.returncode is not None:
            return
        if self.exit_status() is None:
            self.terminate()
            deadline = time.monotonic() + timeout
            while self.exit_status() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if self.exit_status() is None:
                self._say(f"{self.name} (pid {self.proc.pid}) ignored SIGTERM; killing it")
                self._kill_group()
        self._reap()

    def kill(self) -> None:
        """SIGKILL its whole group, as a crash would, and reap it: the crash tests recover
        from."""
        if self.proc is not None and self.proc.returncode is None:
            self._kill_group()
            self._reap()

    def _kill_group(self) -> None:
        with self._reaping, contextlib.suppress(ProcessLookupError):
            if self.proc.returncode is None:  # unreaped: the group id is still ours
                os.killpg(self.proc.pid, signal.SIGKILL)

    def _reap(self) -> None:
        """Kill what the ended child left in its group, then collect its exit status."""
        with self._reaping:
            if self.proc.returncode is not None:
                return
            leftovers = _live_group_members(self.proc.pid)
            if leftovers:
                self._say(f"{self.name}: killing pids {leftovers} it left behind")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class ProcessAbandoned(ProcessError):
    """Waiting for a process to get ready was given up on purpose (see ``abandon``)."""


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


class Worker(Process):
    """A Faust worker of one domain's service: ``faust -A agents.<domain>.app worker``.

    Its HTTP endpoint (``/healthz``, ``/readyz``, ``/metrics``) is on ``metrics_port`` when
    one is given (``make run``'s fixed ports; kept across restarts). Without one the worker
    binds port 0 and ``metrics_port`` is the port it logged (``worker_endpoint``) in this
    run: a port picked here and bound there could be taken in between by any other process
    on the machine, and every restart would then fail on it."""

    def __init__(self, name: str, env: Mapping[str, str], log_path: Path, data_dir: Path,
                 domain: str, metrics_port: int | None = None,
                 netns: str | None = None) -> None:
        argv = [str(BIN / "faust"), *worker_args(domain, str(data_dir))]
        if metrics_port is None and not _logs_info(env):
            metrics_port = free_ports(["metrics"])["metrics"]  # its endpoint is not logged
        self._fixed_port = metrics_port
        self._logged_port: int | None = None
        # Each worker has an address of its own: no metrics shared through files.
        env = {k: v for k, v in env.items() if k != MULTIPROC_DIR_VARIABLE}
        env["METRICS_PORT"] = str(metrics_port or 0)
        super().__init__(name, argv, env, log_path, netns=netns)
        self.data_dir = data_dir
        self.domain = domain

    @property
    def metrics_port(self) -> int:
        """The port of its endpoint; for a worker on port 0, LookupError until this run
        has logged it."""
        if self._fixed_port is not None:
            return self._fixed_port
        if self._logged_port is None:
            for line in self.log_text().splitlines():
                if b"worker_endpoint" in line and (found := _ENDPOINT_URL.search(line)):
                    self._logged_port = int(found.group(1))
                    break
            else:
                raise LookupError(f"{self.name} has not logged its endpoint yet")
        return self._logged_port

    @property
    def metrics_address(self) -> str:
        """``host:port`` of its endpoint, as Prometheus scrapes it."""
        return f"{self.env.get('METRICS_HOST', '127.0.0.1')}:{self.metrics_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.metrics_address}"

    def start(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last part
        self._logged_port = None  # a new run binds a new port
        super().start()

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until Faust says it is ready and its endpoint's ``/readyz`` answers 200."""
        self.wait_until(lambda: WORKER_READY_LINE in self.log_text()
                        and _answers_200(f"{self.metrics_url}/readyz"), timeout, "ready")


def faust_command(domain: str) -> list[str]:
    """The start of a command line on one domain's Faust app (``worker``, ``lag``, ...)."""
    return [str(BIN / "faust"), "-A", app_module(domain)]


def stop_all(processes: Iterable[Process], timeout: float = _STOP_TIMEOUT_S) -> None:
    """Stop them together: SIGTERM to each first, then wait for each within one deadline
    (one that lingers past it is killed), so that stopping n processes takes as long as
    the slowest of them, not the sum of their shutdowns."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.stop(max(0.0, deadline - time.monotonic()))


def migrate(env: Mapping[str, str], timeout_s: float = 300.0) -> list[str]:
    """Bring the stores' schemas up to date: ``faust -A agents.purchases.app migrate``, the
    explicit step before any worker starts. Returns its report lines."""
    done = subprocess.run([*faust_command("purchases"), "migrate"], env=dict(env),
                          capture_output=True, text=True, timeout=timeout_s,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise ProcessError(f"migrate exited with {done.returncode}:\n"
                           f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return [line for line in done.stdout.splitlines() if line.startswith("migrate:")]


def domain_workers(counts: Mapping[str, int], env: Mapping[str, str], logs: Path,
                   data_dir: Path, prefix: str = "",
                   metrics_ports: Iterable[int] | None = None) -> list[Worker]:
    """``counts[domain]`` workers of each domain, named ``<prefix><domain>-<n>``, their
    endpoints on ``metrics_ports`` in that order (default: free ports)."""
    ports: Iterator[int | None] = (iter(metrics_ports) if metrics_ports is not None
                                   else itertools.repeat(None))
    return [
        Worker(f"{prefix}{domain}-{n}", env, logs / f"{prefix}{domain}-{n}.log",
               data_dir / f"{prefix}{domain}-{n}", domain, next(ports))
        for domain in DOMAINS for n in range(1, counts.get(domain, 0) + 1)
    ]


def worker_ports(count: int) -> range:
    """``make run``'s workers' endpoint ports: ``count`` of them from
    ``LOCAL_PORTS["workers"]`` on."""
    first = LOCAL_PORTS["workers"]
    return range(first, first + count)


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):  # HTTPError (a 503) included
        return False


# The address in the worker's ``worker_endpoint`` log line, and so its port.
_ENDPOINT_URL = re.compile(rb"http://[^\s\"'/]+:(\d+)")


def _logs_info(env: Mapping[str, str]) -> bool:
    return env.get("LOG_LEVEL", "info").lower() in ("debug", "info")


class Edge(Process):
    """The aiohttp edge: ``python -m web``.

    Edges that share a port share ``metrics_dir`` (see :func:`edge_group`): whichever
    answers ``/metrics`` reports the totals of all. Without one, an edge counts alone."""

    def __init__(self, name: str, env: Mapping[str, str], log_path: Path,
                 metrics_dir: Path | None = None, netns: str | None = None) -> None:
        # The edge holds no credentials of the ledger, which only the purchases service reads.
        env = {k: v for k, v in env.items()
               if not k.startswith("MYSQL_") and k != MULTIPROC_DIR_VARIABLE}
        if metrics_dir is not None:
            env[MULTIPROC_DIR_VARIABLE] = str(metrics_dir)
        super().__init__(name, [sys.executable, "-m", "web"], env, log_path, netns=netns)
        self.metrics_dir = metrics_dir
        self.address = f"{env.get('EDGE_HOST', '127.0.0.1')}:{env['EDGE_PORT']}"
        self.url = f"http://{self.address}"

    def start(self) -> None:
        if self.metrics_dir is not None:
            if self.proc is not None:  # started again: the last run's gauges are void
                mark_process_dead(self.proc.pid, str(self.metrics_dir))
            self.metrics_dir.mkdir(parents=True, exist_ok=True)
        super().start()

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as answer:
                return answer.status == 200
        except urllib.error.HTTPError as exc:
            self.last_answer = exc.read().decode("utf-8", "replace")[:500]
            return False
        except (urllib.error.URLError, OSError) as exc:
            self.last_answer = repr(exc)
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        self.last_answer = ""
        try:
            self.wait_until(self._ready, timeout, "ready")
        except ProcessError as exc:
            raise ProcessError(f"{exc}\nlast /readyz answer: {self.last_answer}") from None


def edge_group(count: int, env: Mapping[str, str], logs: Path, metrics_dir: Path,
               prefix: str = "edge") -> list[Edge]:
    """``count`` edges on one port (``<prefix>-1`` …), sharing ``metrics_dir``, which is
    emptied first: totals start from zero with the group."""
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return [Edge(f"{prefix}-{n}", env, logs / f"{prefix}-{n}.log", metrics_dir)
            for n in range(1, count + 1)]


def child_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child: ours, plus the stack's settings, unbuffered output."""
    return {**os.environ, **base, "PYTHONUNBUFFERED": "1"}
