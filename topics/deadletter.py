"""The dead-letter record: a message an agent could not accept, and why."""

from __future__ import annotations

from topics import DEADLETTER
from topics.record import ID, Record

MESSAGE_REJECTED = Record(
    "deadletter", "MessageRejected", DEADLETTER, "event",
    "An agent could not accept a message; payload holds it as received (UTF-8, invalid "
    "bytes replaced) so an operator can fix and replay it.",
    {
        "reason": {"type": "string"},
        "agent": {"type": "string"},
        "topic": {"type": "string"},
        "partition": {"type": "integer"},
        "offset": {"type": "integer"},
        "key": {"type": ["string", "null"]},
        "payload": {"type": "string"},
        "original_id": {"anyOf": [ID, {"type": "null"}]},
    },
    ("reason", "agent", "topic", "partition", "offset", "payload"),
)

RECORDS = (MESSAGE_REJECTED,)
