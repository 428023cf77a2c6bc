"""Picasso's own processes (Faust workers and edges) started, watched and stopped by pid.

Shared by the ``make run`` launcher and the tests, so both run the system the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping

from picasso.domains import DOMAINS, app_module

BIN = Path(sys.executable).parent
_STOP_TIMEOUT_S = 20.0
# Faust prints this once the worker's agents run and its consumer has joined the group.
WORKER_READY_LINE = b"[^Worker]: Ready"


class ProcessError(RuntimeError):
    """A process exited or did not get ready; carries the tail of its log."""


class Process:
    """One child process with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=self.cwd,
                # Its own session: a Ctrl-C in the launcher's terminal reaches the launcher
                # only, which then stops the edges, drains and stops the workers in order.
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> bytes:
        """What this run of the process has written so far."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read()

    def tail(self, lines: int = 40) -> str:
        return b"\n".join(self.log_text().splitlines()[-lines:]).decode("utf-8", "replace")

    def wait_until(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ProcessError(f"{self.name} exited while starting:\n{self.tail()}")
            if ready():
                return
            time.sleep(0.05)
        raise ProcessError(f"{self.name} was not {what} after {timeout:.0f}s:\n{self.tail()}")

    def stop(self, timeout: float = _STOP_TIMEOUT_S) -> None:
        """SIGTERM, wait, SIGKILL if it lingers; does nothing if it is not running."""
        if not self.running():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: the crash that tests recover from."""
        if self.running():
            self.proc.kill()
            self.proc.wait()


class Worker(Process):
    """A Faust worker of one domain's service: ``faust -A agents.<domain>.app worker``."""

    def __init__(self, name: str, env: Mapping[str, str], log_path: Path, data_dir: Path,
                 domain: str) -> None:
        argv = [
            *faust_command(domain), "--datadir", str(data_dir), "worker",
            "-l", "info", "--without-web",
        ]
        super().__init__(name, argv, env, log_path)
        self.data_dir = data_dir
        self.domain = domain

    def start(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last part
        super().start()

    def wait_ready(self, timeout: float = 90.0) -> None:
        self.wait_until(lambda: WORKER_READY_LINE in self.log_text(), timeout, "ready")


def faust_command(domain: str) -> list[str]:
    """The start of a command line on one domain's Faust app (``worker``, ``lag``, ...)."""
    return [str(BIN / "faust"), "-A", app_module(domain)]


def domain_workers(counts: Mapping[str, int], env: Mapping[str, str], logs: Path,
                   data_dir: Path, prefix: str = "") -> list[Worker]:
    """``counts[domain]`` workers of each domain, named ``<prefix><domain>-<n>``."""
    return [
        Worker(f"{prefix}{domain}-{n}", env, logs / f"{prefix}{domain}-{n}.log",
               data_dir / f"{prefix}{domain}-{n}", domain)
        for domain in DOMAINS for n in range(1, counts.get(domain, 0) + 1)
    ]


class Edge(Process):
    """The aiohttp edge: ``python -m web``."""

    def __init__(self, name: str, env: Mapping[str, str], log_path: Path) -> None:
        super().__init__(name, [sys.executable, "-m", "web"], env, log_path)
        self.url = f"http://{env.get('EDGE_HOST', '127.0.0.1')}:{env['EDGE_PORT']}"

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


def child_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child: ours, plus the stack's settings, unbuffered output."""
    return {**os.environ, **base, "PYTHONUNBUFFERED": "1"}
