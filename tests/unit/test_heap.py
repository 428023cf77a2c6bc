"""picasso.heap: a started process's objects frozen, its youngest generation collected less
often (in a process of its own: the collector's settings are the whole process's)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_settle_freezes_what_start_up_left_and_raises_the_young_threshold() -> None:
    script = textwrap.dedent("""
        import gc
        from picasso import heap
        made = [[n] for n in range(5000)]  # objects a process keeps from its start
        before = gc.get_threshold()
        frozen = heap.settle()
        after = gc.get_threshold()
        assert before[0] == 700, before
        assert after == (heap.YOUNG_COLLECTION, before[1], before[2]), after
        assert frozen == gc.get_freeze_count() >= len(made)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
