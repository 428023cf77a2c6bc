"""The edge's journal of accepted commands, for a broker that keeps messages in memory only.

The local broker (``make run``, the tests) forgets every message when it dies. With
``BROKER_JOURNAL_DIR`` set, each edge process appends every message it puts on Kafka to a
file of its own before it answers, and after the broker is started again
``python -m web.journal replay`` puts the ones of the last ``BROKER_JOURNAL_RETENTION_S``
back on their topics, in the order they were accepted. Consumers are idempotent on message
ids, so what was applied before the crash is skipped and the rest is applied once.

Off by default: a production Kafka (replicated, acks=all) does not lose acknowledged
messages, so production does not pay for a second copy. Lines are written, not fsynced:
the journal survives the broker's and the edge's crashes, not the machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from picasso.kafka import MessageBus
from picasso.settings import Settings, SettingsError

_HOUR_FORMAT = "%Y%m%d%H"


class Journal:
    """Appends this process's accepted messages to ``directory/<process>-<hour>.jsonl``."""

    def __init__(self, directory: Path, retention_s: float) -> None:
        self.directory = directory
        self.retention_s = retention_s
        self.directory.mkdir(parents=True, exist_ok=True)
        self._name = f"edge-{os.getpid()}"
        self._hour = ""
        self._file = None

    def record(self, topic: str, key: bytes, value: bytes) -> None:
        """Keep one message; called once the broker acknowledged it and before the request
        is answered, so nothing a client was told is accepted is missing here."""
        now = time.time()
        hour = time.strftime(_HOUR_FORMAT, time.gmtime(now))
        if hour != self._hour:
            self._rotate(hour)
        line = json.dumps({"t": now, "topic": topic, "key": key.decode("utf-8", "replace"),
                           "value": value.decode("utf-8", "replace")})
        self._file.write(line + "\n")
        self._file.flush()  # in the kernel's hands: it survives this process dying

    def _rotate(self, hour: str) -> None:
        if self._file is not None:
            self._file.close()
        self._hour = hour
        self._file = open(self.directory / f"{self._name}-{hour}.jsonl", "a", encoding="utf-8")
        prune(self.directory, self.retention_s)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def prune(directory: Path, retention_s: float) -> None:
    """Remove journal files whose newest line is older than the retention (and an hour)."""
    cutoff = time.time() - retention_s - 3600
    for path in directory.glob("*.jsonl"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def entries(directory: Path, since: float) -> list[dict]:
    """Every journalled message accepted at or after ``since``, oldest first."""
    found = []
    for path in directory.glob("*.jsonl"):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash mid-write was never answered
                if entry["t"] >= since:
                    found.append(entry)
    found.sort(key=lambda entry: entry["t"])
    return found


async def replay(settings: Settings) -> int:
    """Put the journal's messages of the retention window back on the broker; how many."""
    if settings.broker_journal_dir is None:
        return 0
    since = time.time() - settings.broker_journal_retention_s
    found = entries(settings.broker_journal_dir, since)
    bus = MessageBus(settings)
    await bus.start()
    try:
        pending = [await bus.producer.send(e["topic"], e["value"].encode(),
                                           key=e["key"].encode()) for e in found]
        await asyncio.gather(*pending)
    finally:
        await bus.stop()
    return len(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m web.journal",
        description="Put the messages the edges accepted in the last "
                    "BROKER_JOURNAL_RETENTION_S back on the broker (after it lost them).")
    parser.add_argument("command", choices=["replay"])
    parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 1
    if settings.broker_journal_dir is None:
        print("journal: BROKER_JOURNAL_DIR is not set; nothing to replay", file=sys.stderr)
        return 2
    count = asyncio.run(replay(settings))
    print(f"journal: {count} accepted message(s) put back on the broker", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
