"""Processes stopped together: real children that take a while to shut down on SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path

from deploy.local.processes import Process, stop_all

# Shuts down cleanly, in 1.5 s, on SIGTERM (as a worker leaving its group does).
SLOW_TO_STOP = (
    "import signal, sys, time\n"
    "def leave(*_):\n"
    "    time.sleep(1.5)\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, leave)\n"
    "print('listening', 'now', flush=True)\n"
    "while True:\n"
    "    time.sleep(0.1)\n"
)


def _children(tmp_path: Path, n: int) -> list[Process]:
    children = [Process(f"slow-{i}", [sys.executable, "-c", SLOW_TO_STOP], {},
                        tmp_path / f"slow-{i}.log") for i in range(n)]
    for child in children:
        child.start()
    for child in children:
        child.wait_until(lambda c=child: b"listening now" in c.log_text(), 30, "ready")
    return children


def test_stopped_together_each_shuts_down_cleanly_within_one_grace_period(
        tmp_path: Path) -> None:
    # One after another, 4 × 1.5 s would be past the 4 s grace: the later ones killed.
    children = _children(tmp_path, 4)
    stop_all(children, timeout=4.0)
    assert [c.exit_status() for c in children] == ["exit code 0"] * 4


def test_one_that_ignores_sigterm_is_killed_at_the_deadline(tmp_path: Path) -> None:
    stubborn = Process("stubborn", [sys.executable, "-c",
                                    "import signal, time\n"
                                    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                    "print('listening', 'now', flush=True)\n"
                                    "time.sleep(60)\n"], {}, tmp_path / "stubborn.log")
    [slow] = _children(tmp_path, 1)
    stubborn.start()
    stubborn.wait_until(lambda: b"listening now" in stubborn.log_text(), 30, "ready")
    stop_all([stubborn, slow], timeout=2.5)
    assert stubborn.exit_status() == "signal 9"
    assert slow.exit_status() == "exit code 0"  # its own clean stop, not cut short
    stop_all([stubborn, slow])  # stopping again does nothing
