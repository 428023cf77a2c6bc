"""``make run`` keeps each process's log bounded: a real child writing lines, its log cut."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from deploy.local.processes import Process

WRITER = "import sys, time\nfor n in range(100000):\n    print(f'line {n}', flush=True)\n" \
         "    time.sleep(0.001)\n"


def test_a_log_over_its_bound_moves_to_log_1_and_the_child_writes_on(tmp_path: Path) -> None:
    log = tmp_path / "writer-1.log"
    child = Process("writer-1", [sys.executable, "-c", WRITER], {}, log)
    child.start()
    try:
        child.wait_until(lambda: log.stat().st_size > 4000, 30, "writing")
        assert not child.bound_log(10**9)  # under the bound: left alone
        assert child.bound_log(2000)
        rotated = (tmp_path / "writer-1.log.1").read_text()
        assert "starting writer-1" in rotated and "line 1\n" in rotated
        last = int(rotated.rstrip().splitlines()[-1].split()[1])
        time.sleep(0.3)
        after = log.read_text()
        assert after.startswith("line ") and "\0" not in after  # appends at the new end
        assert int(after.splitlines()[0].split()[1]) > last
    finally:
        child.stop()
