"""What every server recipe shares: the shape of a recipe and the helpers recipes use.

A recipe (one module per server in this package) says how to launch its server on a port
with a work directory, how to tell it answers (one real request), and what to set up once
it does. :class:`deploy.local.stack.Stack` runs the recipes; it alone decides ports, order,
starting and stopping.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
TTL_SWEEP_S = 60.0
"""How often the MongoDB server removes documents its TTL indexes expired (mongod's monitor)."""
REPO_ROOT = Path(__file__).resolve().parents[3]
"""Put on the Python servers' PYTHONPATH, so ``python -m deploy.local.…`` works from any cwd."""


class StackError(Exception):
    """A server of the embedded stack could not be started (the message carries its log tail)."""


@dataclass
class Site:
    """Where one server of a stack runs, as its recipe sees it."""

    name: str
    port: int
    workdir: Path  # DATA_DIR/<name>, created before prepare runs
    data_dir: Path
    log_file: IO[bytes]  # the server's log, for the output of set-up commands
    log: Callable[[str], object]  # one-line progress messages
    stripe_webhook_url: Callable[[], str | None] = lambda: None
    # The address the server listens on, and the name it gives its clients to come back to
    # (Kafka's advertised listener): 127.0.0.1 for the stack; a test host's address in a
    # network namespace (deploy.local.netns); in a container of the local overlay
    # (deploy.local.serve) every interface, and the pod's name.
    bind: str = HOST
    advertise: str = HOST
    ttl_sweep_s: float = TTL_SWEEP_S  # the MongoDB server's TTL pass

    @property
    def host(self) -> str:
        """Where the stack's own probes and set-up reach the server."""
        return HOST if self.bind in ("0.0.0.0", "::") else self.bind


@dataclass
class Launch:
    """How to run one server and how to tell it is ready."""

    argv: list[str]
    cwd: Path
    probe: Callable[[], None]  # one real request; raises while the server is not ready
    env: dict[str, str] = field(default_factory=dict)
    after_ready: Callable[[], None] | None = None  # one-off set-up once it answers
    cleanup: Callable[[], None] | None = None  # once it has stopped


@dataclass(frozen=True)
class Recipe:
    """One server: how long it may take to answer, and how to prepare its launch."""

    name: str
    ready_timeout_s: float  # generous: a loaded CI machine is several times slower
    prepare: Callable[[Site], Launch]


# Ports handed out by :func:`free_ports`, one file each, shared by every process on the
# machine: a port one test process chose is not chosen by another (pytest-xdist runs
# several) until RESERVATION_S has passed, by when its server holds it or has let it go.
RESERVED_DIR = Path(tempfile.gettempdir()) / "picasso-ports"
RESERVATION_S = 3600.0


def free_ports(names: Iterable[str]) -> dict[str, int]:
    """Return a distinct free TCP port on 127.0.0.1 for each name.

    All sockets are held open until every port is chosen, so the ports are distinct, and
    each port is reserved (``RESERVED_DIR``) so that no other process of Picasso's chooses
    it too before its server binds it. A process of someone else's can still take it in
    between, which is rare enough for tests (the start then fails with a clear
    :class:`StackError`); a server that can, binds port 0 and reports the port it got.
    """
    names = list(names)
    sockets: list[socket.socket] = []
    chosen: list[int] = []
    try:
        while len(chosen) < len(names):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)  # held either way: the next bind gets another port
            port = sock.getsockname()[1]
            if _reserve(port):
                chosen.append(port)
            elif len(sockets) > 100 * len(names):
                raise StackError(f"no free port left that {RESERVED_DIR} does not hold")
        return dict(zip(names, chosen))
    finally:
        for sock in sockets:
            sock.close()


def _reserve(port: int) -> bool:
    """Take ``port`` for this process, unless another took it less than RESERVATION_S ago."""
    RESERVED_DIR.mkdir(exist_ok=True)
    path = RESERVED_DIR / str(port)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        return True
    except FileExistsError:
        try:
            if time.time() - path.stat().st_mtime < RESERVATION_S:
                return False
            os.utime(path)  # an old reservation: this process's now
            return True
        except FileNotFoundError:
            return _reserve(port)


def python_env() -> dict[str, str]:
    """Environment for a ``python -m deploy.local.…`` server: the repo importable, unbuffered."""
    path = [str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(path), "PYTHONUNBUFFERED": "1"}


def venv_program(name: str) -> Path:
    """A console script installed next to this Python (the venv's bin), else from PATH."""
    # sys.executable is not resolved: in a venv it is the venv's bin/python symlink.
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} is not installed next to {sys.executable} nor on PATH")
    return Path(found)


def system_program(name: str, package: str = "mariadb-server") -> str:
    """A system program, also looked for in the sbin directories a non-root PATH lacks;
    ``package`` is the Debian package that has it, for the message when it is missing."""
    path = os.environ.get("PATH", os.defpath) + os.pathsep + "/usr/sbin:/sbin:/usr/local/sbin"
    found = shutil.which(name, path=path)
    if found is None:
        raise StackError(f"{name} is not installed (Debian: apt-get install {package})")
    return found
