"""The dead-letter record: a message an agent could not accept, and why."""

from __future__ import annotations

from topics import DEADLETTER
from topics.record import ID, Record

# A dead letter must always fit on the topic, whatever it carries: payloads longer than
# this are cut to this many bytes, and the letter says so and carries the whole one's digest.
PAYLOAD_EXCERPT_BYTES = 64 * 1024
KEY_EXCERPT_BYTES = 1024

MESSAGE_REJECTED = Record(
    "deadletter", "MessageRejected", DEADLETTER, "event",
    "An agent could not accept a message; payload holds it as received (UTF-8, invalid "
    "bytes replaced) so an operator can fix and replay it. A payload longer than 64 KiB is "
    "cut (payload_truncated), and payload_bytes and payload_sha256 describe the whole one.",
    {
        "reason": {"type": "string"},
        "agent": {"type": "string"},
        "topic": {"type": "string"},
        "partition": {"type": "integer"},
        "offset": {"type": "integer"},
        "key": {"type": ["string", "null"]},
        "payload": {"type": "string"},
        "payload_bytes": {"type": "integer", "minimum": 0},
        "payload_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "payload_truncated": {"type": "boolean"},
        "original_id": {"anyOf": [ID, {"type": "null"}]},
    },
    ("reason", "agent", "topic", "partition", "offset", "payload"),
)

RECORDS = (MESSAGE_REJECTED,)
