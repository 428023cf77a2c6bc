"""The garbage collector's pauses, kept short in long-running processes.

A full collection visits every object the process holds. Most of an edge's or a worker's
objects are made at start (modules, classes, clients, settings) and live as long as the
process: about 100,000 in an edge, visited at each full collection for 30–70 ms during
which no request is answered (measured under the feed benchmark, docs/benchmarks.md §1).
:func:`settle` is called once a process has started: it collects what start-up left as
garbage, then moves everything left to the permanent generation (``gc.freeze``), which
collections skip, so a full collection visits only what was made since.

What is frozen is never collected: only objects that live for the whole process belong
there, which is why this runs once, after start-up, and not periodically.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect, then freeze what is left; the number of objects now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
