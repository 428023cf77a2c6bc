"""Benchmark: what one JSON log line costs, Picasso's set-up against structlog alone.

A service logs one ``message_applied`` line per message it applies (README, "Traces and
logs"), with the message's trace fields; the edge one ``request`` line per request. Each
configuration writes ``LINES`` such lines to a file in a fresh process, in the same run,
twice, alternating (the best of each counts):

- **picasso**: :func:`picasso.logging.configure` (structlog renders Picasso's lines straight
  to the stream; the standard library's handler renders only the libraries' lines);
- **floor**: structlog alone, the same processors, the same line without its trace fields;
- **stdlib**: Picasso's lines through the standard library's logging too, with
  ``ProcessorFormatter`` (the set-up structlog's documentation shows first): what
  ``configure`` avoids.

Prints microseconds per line, the ratios, and the share of a message's time that the line
takes at the likes benchmark's rate (860 applied/s, docs/benchmarks.md §2).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

LINES = 20_000
LIKES_APPLIED_PER_S = 860  # docs/benchmarks.md §2, one worker

_SCRIPT = textwrap.dedent("""
    import sys, time
    import structlog
    from picasso.settings import Settings
    from picasso.tracing import log_fields
    from topics.envelope import CloudEvent
    from topics.tracecontext import Trace
    which, path, lines = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = open(path, "w")
    sys.stderr = out
    settings = Settings.from_env({"PICASSO_ENV": "local", "LOG_FORMAT": "json"})
    if which == "picasso":
        from picasso.logging import configure
        configure(settings, "reactions")
    elif which == "stdlib":
        import logging
        from picasso.logging import _shared, configure
        configure(settings, "reactions")
        structlog.configure(
            processors=[*_shared(), structlog.processors.format_exc_info,
                        structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            wrapper_class=structlog.make_filtering_bound_logger(20),
            logger_factory=lambda *args: logging.getLogger("picasso"),
            cache_logger_on_first_use=True)
        logging.getLogger("picasso").setLevel(20)
    else:
        from picasso.logging import _name_process
        structlog.configure(
            processors=[structlog.contextvars.merge_contextvars,
                        structlog.processors.add_log_level,
                        structlog.processors.TimeStamper(fmt="iso", utc=True),
                        _name_process, structlog.processors.format_exc_info,
                        structlog.processors.JSONRenderer()],
            wrapper_class=structlog.make_filtering_bound_logger(20),
            logger_factory=structlog.PrintLoggerFactory(file=out),
            cache_logger_on_first_use=True)
    log = structlog.get_logger()
    event = CloudEvent(type="picasso.reactions.LikePicture", subject="pic-1", data={},
                       source="/b").traced(Trace.new(), "req-1")
    began = time.perf_counter()
    # The line the runtime writes per message of a batch, with the message's trace fields
    # (the floor: the same line without them).
    for n in range(lines):
        fields = log_fields(event) if which != "floor" else {}
        log.info("message_applied", agent="reactions", command_id=event.id,
                 type=event.type, subject=event.subject, caused=["e1"], batch_ms=12.5,
                 **fields)
    seconds = time.perf_counter() - began
    out.flush()
    print(seconds / lines * 1e6, file=sys.__stdout__)
""")


def _per_line_us(which: str, directory: Path) -> tuple[float, int]:
    path = directory / f"{which}.log"
    done = subprocess.run([sys.executable, "-c", _SCRIPT, which, str(path), str(LINES)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    if done.returncode != 0:
        raise SystemExit(f"log_lines: {which} failed:\n{done.stderr[-2000:]}")
    written = path.read_text().count("\n")
    return float(done.stdout.strip()), written


def main() -> dict:
    kinds = ("floor", "picasso", "stdlib")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for which in (*kinds, *kinds):
            us, written = _per_line_us(which, Path(tmp))
            assert written == LINES, (which, written)
            results.setdefault(which, []).append(us)
    floor, ours, stdlib = (min(results[k]) for k in kinds)
    share = ours / (1e6 / LIKES_APPLIED_PER_S)
    print(f"log_lines: {LINES:,} message_applied lines each, best of two runs", flush=True)
    print(f"  floor (structlog alone, no trace fields): {floor:.1f} µs per line", flush=True)
    print(f"  picasso (with the trace fields):          {ours:.1f} µs per line "
          f"({ours / floor:.2f}× the floor)", flush=True)
    print(f"  through stdlib logging (not used):        {stdlib:.1f} µs per line "
          f"({stdlib / floor:.2f}× the floor)", flush=True)
    print(f"  one line per like at {LIKES_APPLIED_PER_S} applied/s: {share:.1%} of a like's "
          "time", flush=True)
    return {"floor_us": round(floor, 1), "picasso_us": round(ours, 1),
            "stdlib_us": round(stdlib, 1), "ratio": round(ours / floor, 2),
            "stdlib_ratio": round(stdlib / floor, 2), "share_of_a_like": round(share, 4)}


if __name__ == "__main__":
    main()
