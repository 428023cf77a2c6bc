"""A record type: its CloudEvents ``type``, the topic it travels on and its data schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from topics import Topic

# Field schemas shared by several records (one home for each rule).
ID = {"type": "string", "minLength": 1, "maxLength": 128}
# An id that becomes part of a blob key: no '/', no '.', so it can never climb out of
# the area it names (picture and user ids are hex or Firebase uids, which fit).
KEY_SEGMENT = "[A-Za-z0-9_-]{1,128}"
KEY_ID = {"type": "string", "pattern": f"^{KEY_SEGMENT}$"}
TITLE = {"type": "string", "minLength": 1, "maxLength": 140}
DESCRIPTION = {"type": "string", "maxLength": 2000}
PRICE_CENTS = {
    "type": "integer",
    "maximum": 100_000_000,
    "anyOf": [{"const": 0}, {"minimum": 50}],
    "description": "integer cents; 0 is free, otherwise at least 50",
}
CURRENCY = {"type": "string", "pattern": "^[a-z]{3}$", "description": "ISO 4217, lower case"}
# The currencies a picture can be priced in: the one list, read by the edge's upload check
# and by UploadPicture's schema. Each is a Stripe presentment currency whose minimum charge is
# at most 50 of its smallest unit, so every non-zero price the contract allows (50 and more)
# can be charged. (Stripe checks the minimum again after converting to the settlement
# currency; a refusal there fails the purchase with Stripe's reason.) Facts about sales keep
# CURRENCY (any ISO code), so that shortening this list never makes a recorded event invalid.
CURRENCIES: tuple[str, ...] = ("aud", "cad", "chf", "eur", "gbp", "jpy", "nzd", "sgd", "usd")
SALE_CURRENCY = {"enum": list(CURRENCIES), "description": "a currency Picasso sells in"}
TAGS = {
    "type": "array",
    "maxItems": 20,
    "uniqueItems": True,
    "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$"},
}
EMAIL = {"type": "string", "minLength": 3, "maxLength": 254, "pattern": "^[^@\\s]+@[^@\\s]+$"}
DISPLAY_NAME = {"type": "string", "minLength": 1, "maxLength": 80}
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
            },
            "required": ["specversion", "id", "source", "type", "data"],
        }
