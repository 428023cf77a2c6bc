"""W3C Trace Context on the contract's messages: the ``traceparent`` and ``correlationid``
CloudEvents extension attributes.

A request's trace starts at the edge (or comes from the client's own ``traceparent``
header) and travels on the command's CloudEvent, from there onto every event it causes and
every mail those cause. ``traceparent`` is ``00-<32 hex trace id>-<16 hex span id>-<2 hex
flags>`` (the CloudEvents distributed-tracing extension); ``correlationid`` is the id of the
HTTP request that started it all (its ``X-Request-ID``). Each message is a span of its own:
its span id is derived from its id, so a message sent again (a redelivery, the outbox, a
replay) carries the same ``traceparent``.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

VERSION = "00"
SAMPLED = "01"
TRACEPARENT_PATTERN = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
# What the edge takes as a client's request id, and the schema's rule for correlationid.
CORRELATION_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_TRACEPARENT = re.compile(TRACEPARENT_PATTERN)
_CORRELATION_ID = re.compile(CORRELATION_ID_PATTERN)
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

# The JSON Schemas of the two extension attributes (topics.record puts them in every
# record's schema).
TRACEPARENT_SCHEMA = {
    "type": "string", "pattern": TRACEPARENT_PATTERN,
    "description": "W3C Trace Context traceparent of this message (CloudEvents "
                   "distributed-tracing extension): the trace of the request that caused it",
}
CORRELATION_ID_SCHEMA = {
    "type": "string", "pattern": CORRELATION_ID_PATTERN,
    "description": "the id of the HTTP request (X-Request-ID) that caused this message",
}


@dataclass(frozen=True)
class Trace:
    """A position in a trace: the trace id, this hop's span id and the trace flags."""

    trace_id: str
    span_id: str
    flags: str = SAMPLED

    @property
    def traceparent(self) -> str:
        return format_traceparent(self.trace_id, self.span_id, self.flags)

    @classmethod
    def new(cls) -> Trace:
        """The start of a new trace."""
        return cls(*new_trace_ids())

    @classmethod
    def parse(cls, header: str | None) -> Trace | None:
        """A valid ``traceparent`` value, or None (a missing or malformed header, all-zero
        ids, a version other than 00)."""
        if not header:
            return None
        header = header.strip().lower()
        if not _TRACEPARENT.match(header):
            return None
        _, trace_id, span_id, flags = header.split("-")
        if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
            return None
        return cls(trace_id, span_id, flags)

    def child(self, span_id: str | None = None) -> Trace:
        """The next hop of the same trace (a new span id)."""
        return Trace(self.trace_id, span_id or new_span_id(), self.flags)

    def for_message(self, message_id: str) -> str:
        """The ``traceparent`` of the message ``message_id`` in this trace."""
        return self.child(span_of(message_id)).traceparent


def format_traceparent(trace_id: str, span_id: str, flags: str) -> str:
    """The ``traceparent`` value of a position in a trace."""
    return f"{VERSION}-{trace_id}-{span_id}-{flags}"


def new_span_id() -> str:
    return _random_hex(8)


def new_trace_ids() -> tuple[str, str]:
    """A new trace id and its first span id (one cut from the pool for both)."""
    ids = _random_hex(24)
    return ids[:32], ids[32:]


# Random ids are cut from a pool read from the OS 4 KiB at a time, kept as its hex digits:
# the edge makes a trace and a span id per request, and a system call for each showed in
# the feed's profile.
_POOL_BYTES = 4096
_pool = ""
_used = 0


def _random_hex(size: int) -> str:
    """``size`` random bytes as hex digits, never handed out before in this process."""
    global _pool, _used
    digits = 2 * size
    if _used + digits > len(_pool):
        _pool, _used = os.urandom(_POOL_BYTES).hex(), 0
    _used += digits
    return _pool[_used - digits:_used]


def _forget_pool() -> None:
    """A forked child must not hand out its parent's ids again."""
    global _pool, _used
    _pool, _used = "", 0


os.register_at_fork(after_in_child=_forget_pool)


def span_of(message_id: str) -> str:
    """The span id of a message: derived from its id, so the same on every send."""
    span = hashlib.sha256(message_id.encode()).hexdigest()[:16]
    return span if span != _ZERO_SPAN else "1" * 16


def valid_correlation_id(value: str | None) -> str | None:
    """``value`` if it may travel as a correlation id (and a request id), else None."""
    return value if value and _CORRELATION_ID.match(value) else None
