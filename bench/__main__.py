"""``make bench``: every benchmark, each against its floor measured in the same run.

Prints each figure as it is measured and a summary at the end; ``BENCH=feed,likes`` runs a
subset. docs/benchmarks.md records the latest figures and what limits each.
"""

from __future__ import annotations

import json
import os
import time

from bench import (
    crash_storm,
    feed,
    feed_parts,
    fetch_wait,
    idle,
    image_pipeline,
    likes,
    live,
    log_lines,
    long_polls,
    overload,
    popular_likes,
    search,
    timeline,
    timeline_reads,
    trending,
    upload_memory,
)
from bench.system import machine

BENCHMARKS = {
    "feed": feed.main,
    "likes": likes.main,
    "popular_likes": popular_likes.main,
    "images": image_pipeline.main,
    "upload_memory": upload_memory.main,
    "crash_storm": crash_storm.main,
    "long_polls": long_polls.main,
    "timeline": timeline.main,
    "timeline_reads": timeline_reads.main,
    "live": live.main,
    "search": search.main,
    "trending": trending.main,
    "log_lines": log_lines.main,
    "overload": overload.main,
    "idle": idle.main,
    "fetch_wait": fetch_wait.main,
    "feed_parts": feed_parts.main,
}


def main() -> None:
    chosen = [name.strip() for name in os.environ.get("BENCH", ",".join(BENCHMARKS)).split(",")
              if name.strip()]
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        raise SystemExit(f"unknown benchmarks {sorted(unknown)}; choose from {list(BENCHMARKS)}")
    print(f"Picasso benchmarks on {machine()}", flush=True)
    began = time.monotonic()
    results = {}
    for name in chosen:
        print(f"\n== {name}", flush=True)
        results[name] = BENCHMARKS[name]()
    print(f"\nall done in {time.monotonic() - began:.0f} s", flush=True)
    print(json.dumps(results, indent=1, default=str), flush=True)


if __name__ == "__main__":
    main()
