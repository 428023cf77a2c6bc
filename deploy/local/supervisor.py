"""Keeps everything ``make run`` started running: servers of the stack, workers and edges.

A process that dies is started again after a backoff (1, 2, 4 … 30 s; back to 1 s once it
has stayed up for a minute), with a line saying what died, how, and how many times it was
restarted; the others are never stopped because one died. When the broker comes back (it
keeps messages in memory only), the contract's topics are created again before anything
else happens; workers and edges reconnect by themselves.

Plain synchronous code driven by :meth:`Supervisor.tick`, so the launcher and the tests
run it the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from deploy.local.processes import Process
from deploy.local.stack import Stack, StackError
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
    started_at: float = field(default_factory=time.monotonic)
    due_at: float | None = None  # when it is to be started again, once it died


class Supervisor:
    """Watches ``stack``'s servers and ``processes``; :meth:`tick` restarts what died."""

    def __init__(self, stack: Stack, processes: Sequence[Process], settings: Settings,
                 log: Callable[[str], object] = print) -> None:
        self.stack = stack
        self.settings = settings
        self._log = log
        self._watches: list[_Watch] = []
        for name in stack.services:
            self._watches.append(_Watch(
                name=name,
                alive=lambda name=name: stack.running(name),
                restart=lambda name=name: self._restart_service(name),
                exit_status=lambda name=name: "exited",
            ))
        for process in processes:
            self._watches.append(_Watch(
                name=process.name,
                alive=process.running,
                restart=process.start,
                exit_status=lambda process=process: _describe_exit(process),
            ))

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


def _describe_exit(process: Process) -> str:
    code = process.proc.returncode if process.proc is not None else None
    if code is None:
        return "exited"
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"
