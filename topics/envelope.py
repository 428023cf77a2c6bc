"""The CloudEvents 1.0 envelope (JSON, structured mode) every Picasso message travels in."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from topics.tracecontext import Trace

SPECVERSION = "1.0"
# Namespace for ids derived from another message's id (events caused by a command).
_DERIVED_NAMESPACE = uuid.UUID("6f0d3c1e-8a55-4a8e-9d7e-5b1f4a2c9e10")


class InvalidMessage(ValueError):
    """A message that cannot be accepted; ``reason`` says why, for the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def utc_stamp(moment: datetime) -> str:
    """An aware time as RFC 3339 UTC with milliseconds, e.g. ``2026-11-27T20:18:32.123Z``:
    the form every stored time takes, so that stamps compare as strings."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> str:
    """The current time as :func:`utc_stamp` writes it."""
    return utc_stamp(datetime.now(UTC))


def new_id() -> str:
    """A fresh opaque id for a message, a picture or a purchase."""
    return uuid.uuid4().hex


def derived_id(cause_id: str, type_: str) -> str:
    """A stable id for the event of ``type_`` caused by message ``cause_id``.

    Re-emitting after a redelivery therefore produces the same event id, which consumers
    deduplicate on.
    """
    return uuid.uuid5(_DERIVED_NAMESPACE, f"{cause_id}/{type_}").hex


@dataclass(frozen=True)
class CloudEvent:
    """One message: ``type`` is ``picasso.<domain>.<Name>``, ``subject`` is the Kafka key.

    ``traceparent`` and ``correlationid`` are CloudEvents extension attributes (see
    :mod:`topics.tracecontext`): the trace of the request that caused the message, when
    there was one."""

    type: str
    subject: str
    data: dict[str, Any]
    source: str
    id: str = field(default_factory=new_id)
    time: str = field(default_factory=utc_now)
    traceparent: str | None = None
    correlationid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        doc = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "subject": self.subject,
            "datacontenttype": "application/json",
            "data": self.data,
        }
        if self.traceparent is not None:
            doc["traceparent"] = self.traceparent
        if self.correlationid is not None:
            doc["correlationid"] = self.correlationid
        return doc

    @property
    def trace(self) -> Trace | None:
        """Where this message stands in its trace, or None if it carries none."""
        return Trace.parse(self.traceparent)

    def traced(self, trace: Trace | None, correlationid: str | None) -> CloudEvent:
        """This message as a span of ``trace`` (its span id derived from its id)."""
        if trace is None:
            return self if correlationid is None else replace(self, correlationid=correlationid)
        return replace(self, traceparent=trace.for_message(self.id),
                       correlationid=correlationid)

    def traced_by(self, cause: CloudEvent) -> CloudEvent:
        """This message in the trace of ``cause``, unless it carries a trace of its own."""
        if self.traceparent is not None or (cause.traceparent is None
                                            and cause.correlationid is None):
            return self
        return self.traced(cause.trace, cause.correlationid)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    def caused(self, type_: str, data: dict[str, Any], source: str) -> CloudEvent:
        """The event this message causes, with an id derived from this one's."""
        return CloudEvent(
            type=type_, subject=self.subject, data=data, source=source,
            id=derived_id(self.id, type_),
        ).traced_by(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> CloudEvent:
        return cls(
            type=doc["type"], subject=doc.get("subject") or "", data=doc["data"],
            source=doc["source"], id=doc["id"], time=doc.get("time") or utc_now(),
            traceparent=doc.get("traceparent"), correlationid=doc.get("correlationid"),
        )


def decode(raw: bytes | str | None) -> dict[str, Any]:
    """Decode raw bytes into a JSON object, or raise :class:`InvalidMessage`.

    Schema validation is :func:`topics.registry.parse`'s job; this only decodes.
    """
    if not raw:
        raise InvalidMessage("empty message")
    try:
        doc = json.loads(raw)
    except ValueError as exc:  # bad UTF-8, bad JSON, an integer too long for Python
        raise InvalidMessage(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidMessage("JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise InvalidMessage("not a JSON object")
    return doc
