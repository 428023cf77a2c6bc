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

The youngest generation is also collected less often: by default every 700 allocations
more than deallocations, which an edge answering the feed reaches every few requests
(each makes its request, response, task and trace objects); ``YOUNG_COLLECTION`` of them
cost an anonymous feed answer 1.2–1.6 µs less CPU (40.2 against 41.8 µs, the same edge
with each threshold in one run), for at most that many young objects held a little
longer (about a megabyte).
"""

from __future__ import annotations

import gc

# Allocations (net) between two collections of the youngest generation; Python's is 700.
YOUNG_COLLECTION = 10_000


def settle() -> int:
    """Collect, then freeze what is left; the number of objects now frozen. From now on
    the youngest generation is collected every ``YOUNG_COLLECTION`` allocations."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, older, oldest)
    return gc.get_freeze_count()
