"""The whole path of one request, from the logs: ``python -m picasso.trace <id>``.

Given any id a log line names (a request id, a trace id, a command or event id, a picture,
a purchase or a user), it prints every JSON log line of every process that is about it, in
time order: the lines that name the id in any field, and every line of the traces those
lines belong to (the edge's request line, the services' ``message_applied`` lines of the
command and of every event it caused, the mail sent). A purchase has two traces, the buyer's
request and Stripe's webhook; asking by the purchase id finds both.

It reads ``<PICASSO_DATA_DIR>/logs/*.log`` (and the ``.log.1`` kept by rotation), where
``make run`` and the tests keep each process's output (``--logs`` for another directory);
lines that are not JSON (a crash's traceback, a banner) are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

# Shown first after the event name, in this order; the other fields follow.
LEADING = ("request_id", "trace_id", "agent", "type", "command_id", "event_id", "subject",
           "kind", "method", "path", "status")
_QUIET = {"timestamp", "level", "event", "service", "pid", "span_id"}


@dataclass(frozen=True)
class Line:
    """One JSON log line and the process (log file) it came from."""

    process: str
    doc: dict[str, Any]
    raw: str

    @property
    def timestamp(self) -> str:
        return str(self.doc.get("timestamp", ""))


def log_files(directory: Path) -> list[Path]:
    """Every process's log in ``directory``: the rotated part first, then the current."""
    files = sorted(directory.glob("*.log.1")) + sorted(directory.glob("*.log"))
    return [f for f in files if f.is_file()]


def _process_of(path: Path) -> str:
    name = path.name
    return name[: name.index(".log")]


def _lines(files: Iterable[Path], needles: set[str]) -> Iterator[Line]:
    """JSON lines of ``files`` that hold any of ``needles`` as text (a quick filter before
    parsing: the lines that matter are few)."""
    for path in files:
        process = _process_of(path)
        try:
            handle = path.open("r", encoding="utf-8", errors="replace")
        except OSError:
            continue
        with handle:
            for raw in handle:
                if not raw.startswith("{") or not any(n in raw for n in needles):
                    continue
                try:
                    doc = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(doc, dict):
                    yield Line(process, doc, raw.rstrip("\n"))


def _names(doc: dict[str, Any], wanted: str) -> bool:
    """Whether some field of ``doc`` is ``wanted`` (or a list holding it)."""
    for value in doc.values():
        if value == wanted or (isinstance(value, list) and wanted in value):
            return True
    return False


def find(wanted: str, directory: Path) -> list[Line]:
    """Every line about ``wanted`` and every line of the traces they belong to, in time
    order."""
    files = log_files(directory)
    direct = [line for line in _lines(files, {wanted}) if _names(line.doc, wanted)]
    traces = {str(line.doc["trace_id"]) for line in direct if line.doc.get("trace_id")}
    found = {(line.process, line.raw): line for line in direct}
    if traces:
        for line in _lines(files, traces):
            if str(line.doc.get("trace_id")) in traces:
                found.setdefault((line.process, line.raw), line)
    return sorted(found.values(), key=lambda line: (line.timestamp, line.process))


def render(line: Line) -> str:
    """One line for a person: time, process, level, event, then the telling fields."""
    doc = line.doc
    fields = [k for k in LEADING if k in doc]
    fields += [k for k in doc if k not in _QUIET and k not in LEADING]
    text = " ".join(f"{k}={_short(doc[k])}" for k in fields)
    return (f"{line.timestamp}  {line.process:<14} {str(doc.get('level', '')):<7} "
            f"{doc.get('event', '')}  {text}").rstrip()


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def default_logs() -> Path:
    return Path(os.environ.get("PICASSO_DATA_DIR") or "data") / "logs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m picasso.trace",
        description="Print every log line about one request, command, picture or purchase "
                    "(and the traces it belongs to) across all processes, in time order.")
    parser.add_argument("id", help="a request id, trace id, command or event id, picture, "
                                   "purchase or user id")
    parser.add_argument("--logs", type=Path, default=None,
                        help="the directory of the processes' logs (default: "
                             "$PICASSO_DATA_DIR/logs, or data/logs)")
    parser.add_argument("--json", action="store_true", help="print the JSON lines as they are")
    args = parser.parse_args(argv)
    directory = args.logs or default_logs()
    if not directory.is_dir():
        print(f"trace: no log directory {directory} (start Picasso with `make run`, or pass "
              "--logs)", file=sys.stderr)
        return 2
    lines = find(args.id.strip(), directory)
    if not lines:
        print(f"trace: no log line in {directory} names {args.id!r}", file=sys.stderr)
        return 1
    for line in lines:
        print(line.raw if args.json else render(line))
    traces = sorted({str(line.doc["trace_id"]) for line in lines if line.doc.get("trace_id")})
    processes = sorted({line.process for line in lines})
    print(f"trace: {len(lines)} line(s) from {len(processes)} process(es) "
          f"({', '.join(processes)}); {len(traces)} trace(s)", file=sys.stderr)
    return 0

if __name__ == "__main__":
    sys.exit(main())
