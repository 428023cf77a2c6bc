"""A record type: its CloudEvents ``type``, the topic it travels on and its data schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from topics import Topic
from topics.tracecontext import CORRELATION_ID_SCHEMA, TRACEPARENT_SCHEMA

# Field schemas shared by several domains' records (one home for each rule; the fields of
# one domain live in its module, e.g. a picture's title in topics.pictures).
ID_MAX = 128
ID = {"type": "string", "minLength": 1, "maxLength": ID_MAX}
# An id that becomes part of a blob key: no '/', no '.', so it can never climb out of
# the area it names (picture and user ids are hex or Firebase uids, which fit).
KEY_SEGMENT = f"[A-Za-z0-9_-]{{1,{ID_MAX}}}"
KEY_ID = {"type": "string", "pattern": f"^{KEY_SEGMENT}$"}
CURRENCY_PATTERN = "^[a-z]{3}$"
CURRENCY = {"type": "string", "pattern": CURRENCY_PATTERN, "description": "ISO 4217, lower case"}
TIMESTAMP = {"type": "string", "format": "date-time"}
COUNT = {"type": "integer", "minimum": 0}


@dataclass(frozen=True)
class Record:
    """One kind of message; ``name`` is the short name, e.g. ``LikePicture``."""

    domain: str
    name: str
    topic: Topic
    kind: str  # "command" or "event"
    description: str
    properties: dict[str, Any]
    required: tuple[str, ...]

    @property
    def type(self) -> str:
        """The CloudEvents ``type``: ``picasso.<domain>.<Name>``."""
        return f"picasso.{self.domain}.{self.name}"

    def data_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": self.properties,
            "required": list(self.required),
            "additionalProperties": False,
        }

    def json_schema(self) -> dict[str, Any]:
        """The whole message's JSON Schema (envelope plus data), for other systems."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://picasso.example/schemas/{self.type}.json",
            "title": self.type,
            "description": f"{self.description} Topic: {self.topic.base_name}, key: "
            f"{self.topic.key}.",
            "type": "object",
            "properties": {
                "specversion": {"const": "1.0"},
                "id": {**ID, "description": "unique per message; consumers are idempotent on it"},
                "source": {"type": "string", "minLength": 1},
                "type": {"const": self.type},
                "time": TIMESTAMP,
                "subject": {**ID, "description": f"the Kafka key: {self.topic.key}"},
                "datacontenttype": {"const": "application/json"},
                "data": self.data_schema(),
                "traceparent": TRACEPARENT_SCHEMA,
                "correlationid": CORRELATION_ID_SCHEMA,
            },
            "required": ["specversion", "id", "source", "type", "data"],
        }
