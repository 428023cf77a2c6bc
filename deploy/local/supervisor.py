"""Keeps everything ``make run`` started running: servers of the stack, workers and edges.

A process that dies is started again after a backoff (1, 2, 4 … 30 s; back to 1 s once it
has stayed up for a minute), with a line saying what died, how, and how many times it was
restarted; the others are never stopped because one died.

The broker is the exception, because it keeps messages in memory only: when it dies, the
workers are stopped at once (SIGKILL, which is safe: nothing is acknowledged before it is
applied), the broker is started again, the contract's topics are created again, and only
then the workers are started again. A worker that lived through the broker's death would
carry the dead broker's consumer state into the new one: it could commit offsets of the
old log into the new, empty partitions (and so skip new messages), and its rebalance
waits for acknowledgements of messages that no longer exist. Edges only produce: they
reconnect by themselves (a write retries for a few seconds, then answers 503).

Plain synchronous code driven by :meth:`Supervisor.tick`, so the launcher and the tests
run it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from deploy.local.processes import Process, Worker, faust_command
from deploy.local.stack import Stack, StackError
from picasso.domains import DOMAINS
from picasso.kafka import ensure_topics
from picasso.settings import Settings

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
STABLE_AFTER_S = 60.0  # up this long: the next failure starts the backoff from the beginning


@dataclass
class _Watch:
    """The supervisor's record of one thing it keeps running."""

    name: str
    alive: Callable[[], bool]
    restart: Callable[[], None]
    exit_status: Callable[[], str]
    restarts: int = 0
    failures_in_a_row: int = 0
    held: bool = False  # stopped on purpose until the broker is back
    started_at: float = field(default_factory=time.monotonic)
    due_at: float | None = None  # when it is to be started again, once it died


class Supervisor:
    """Watches ``stack``'s servers and ``processes``; :meth:`tick` restarts what died."""

    def __init__(self, stack: Stack, processes: Sequence[Process], env: Mapping[str, str],
                 log: Callable[[str], object] = print) -> None:
        """``processes`` are workers and edges; workers (Faust consumers) are stopped while
        the broker is started again. ``env`` is the processes' environment."""
        self.stack = stack
        self.env = dict(env)
        self.settings = Settings.from_env(self.env)
        self._consumers = {p.name: p for p in processes if isinstance(p, Worker)}
        self._log = log
        self._watches: list[_Watch] = []
        for name in stack.services:
            self._watches.append(_Watch(
                name=name,
                alive=lambda name=name: stack.running(name),
                restart=lambda name=name: self._restart_service(name),
                exit_status=lambda name=name: _describe_exit(stack.process(name)),
            ))
        for process in processes:
            self._watches.append(_Watch(
                name=process.name,
                alive=process.running,
                restart=process.start,
                exit_status=lambda process=process: _describe_exit(process),
            ))

    @contextlib.contextmanager
    def ticking(self, interval_s: float = 0.2) -> Iterator[Supervisor]:
        """Run :meth:`tick` in a thread of its own while the block runs (tests, benchmarks;
        the launcher ticks in its own loop)."""
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                self.tick()
                stop.wait(interval_s)

        watcher = threading.Thread(target=watch, name="supervisor", daemon=True)
        watcher.start()
        try:
            yield self
        finally:
            stop.set()
            watcher.join()

    def unwatch(self, name: str) -> None:
        """Stop watching ``name`` (e.g. an edge stopped on purpose while the rest drains)."""
        self._watches = [w for w in self._watches if w.name != name]

    @property
    def restarts(self) -> dict[str, int]:
        """How many times each watched thing was started again."""
        return {w.name: w.restarts for w in self._watches if w.restarts}

    def tick(self) -> None:
        """Look at everything once; schedule a restart for what died, restart what is due."""
        now = time.monotonic()
        for watch in self._watches:
            if watch.held:
                continue
            if watch.due_at is None:
                if watch.alive():
                    if now - watch.started_at >= STABLE_AFTER_S:
                        watch.failures_in_a_row = 0
                    continue
                delay = BACKOFF_S[min(watch.failures_in_a_row, len(BACKOFF_S) - 1)]
                watch.failures_in_a_row += 1
                watch.due_at = now + delay
                self._log(f"supervisor: {watch.name} {watch.exit_status()} after "
                          f"{now - watch.started_at:.1f}s; starting it again in {delay:.0f}s")
                if watch.name == "kafka":
                    self._hold_consumers()
            if watch.due_at is not None and now >= watch.due_at:
                self._start_again(watch)

    def _start_again(self, watch: _Watch) -> None:
        try:
            watch.restart()
        except StackError as exc:
            # It did not come back: try again later, with a longer wait.
            delay = BACKOFF_S[min(watch.failures_in_a_row, len(BACKOFF_S) - 1)]
            watch.failures_in_a_row += 1
            watch.due_at = time.monotonic() + delay
            self._log(f"supervisor: {watch.name} did not start ({exc}); "
                      f"trying again in {delay:.0f}s")
            return
        watch.restarts += 1
        watch.due_at = None
        watch.started_at = time.monotonic()
        self._log(f"supervisor: {watch.name} started again (restart #{watch.restarts})")

    def _hold_consumers(self) -> None:
        for watch in self._watches:
            worker = self._consumers.get(watch.name)
            if worker is not None and not watch.held:
                worker.kill()
                watch.held = True
                watch.due_at = None
                self._log(f"supervisor: {watch.name} stopped until the broker is back (its "
                          "consumer state belonged to the broker that died)")

    def _release_consumers(self) -> None:
        for watch in self._watches:
            if watch.held:
                watch.held = False
                self._start_again(watch)

    def _restart_service(self, name: str) -> None:
        self.stack.stop_service(name)  # reap it and free its slot; a no-op if gone
        self.stack.start_service(name)
        if name == "kafka":
            # A memory-only broker comes back empty: the topics first, then the processes'
            # clients find them again on their next metadata refresh.
            try:
                asyncio.run(ensure_topics(self.settings))
            except Exception as exc:  # noqa: BLE001 - reported as a failed start
                raise StackError(f"kafka: topics could not be created: {exc!r}") from exc
            self._log("supervisor: kafka is back, empty; topics created again")
            self._refill_broker()
            self._release_consumers()

    def _refill_broker(self) -> None:
        """Put back what the dead broker held: the edges' journal of accepted messages, then
        the events the services recorded, both for the retention window (see web.journal).
        Consumers skip what they applied before, by message id."""
        if self.settings.broker_journal_dir is None:
            self._log("supervisor: no broker journal (BROKER_JOURNAL_DIR): messages the "
                      "broker held and nobody had applied are lost")
            return
        # The journal first (commands the edges accepted), then every service's recorded
        # events, the services side by side.
        self._run_all([[sys.executable, "-m", "web.journal", "replay"]])
        self._run_all([[*faust_command(domain), "resend"] for domain in DOMAINS])

    def _run_all(self, commands: list[list[str]]) -> None:
        running = [(argv, subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True))
                   for argv in commands]
        for argv, process in running:
            out, err = process.communicate(timeout=600)
            if process.returncode != 0:
                raise StackError(f"kafka: refilling it failed ({' '.join(argv[-3:])}):\n"
                                 f"{out[-2000:]}{err[-2000:]}")
            for line in out.splitlines():
                if line.startswith(("journal:", "resend:")):
                    self._log(f"supervisor: {line}")


def _describe_exit(process: Process | None) -> str:
    code = process.proc.returncode if process is not None and process.proc is not None else None
    if code is None:
        return "exited"
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"
