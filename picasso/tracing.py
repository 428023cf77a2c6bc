"""A request's trace in this process: where it comes from, and which log lines carry it.

The edge starts (or continues, from the client's ``traceparent`` header) a trace for each
request and puts it on the commands it sends (:func:`stamp`); the lines logged while it
answers carry it (:func:`log_request_trace`). Every service handles a
message inside :func:`bound`, so that each line it logs meanwhile, its own or a library's,
carries the message's ``trace_id``, ``span_id`` and ``request_id``. The CloudEvents side is
:mod:`topics.tracecontext`.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from typing import Iterator

import structlog

from topics.envelope import CloudEvent
from topics.tracecontext import (
    SAMPLED,
    Trace,
    format_traceparent,
    new_trace_ids,
    valid_correlation_id,
)

# The fields of a log line that name a trace (deploy/logging's index template maps them).
TRACE_KEYS = ("trace_id", "span_id", "request_id")


class RequestTrace:
    """The edge's trace of one request: its own span and the request id.

    Made for every request the edge answers, so a plain slotted object (the fields as the
    log lines and the answer's headers want them) rather than a frozen dataclass holding a
    :class:`Trace`; ``trace`` makes that when a command is stamped."""

    __slots__ = ("trace_id", "span_id", "flags", "request_id", "user_id")

    def __init__(self, trace_id: str, span_id: str, flags: str, request_id: str,
                 user_id: str | None = None) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags
        self.request_id = request_id
        # The signed-in caller, once known (:func:`identify`).
        self.user_id = user_id

    @classmethod
    def of(cls, trace: Trace, request_id: str, user_id: str | None = None) -> RequestTrace:
        return cls(trace.trace_id, trace.span_id, trace.flags, request_id, user_id)

    @property
    def trace(self) -> Trace:
        return Trace(self.trace_id, self.span_id, self.flags)

    @property
    def traceparent(self) -> str:
        return format_traceparent(self.trace_id, self.span_id, self.flags)

    def __repr__(self) -> str:
        return f"RequestTrace({self.traceparent!r}, request_id={self.request_id!r})"


_current: ContextVar[RequestTrace | None] = ContextVar("picasso_request_trace", default=None)

# Request ids: a random prefix per process and a counter, as unique as uuid4 for tracing
# and without a system call per request (uuid4 showed up in the feed's profile).
_REQUEST_PREFIX = os.urandom(6).hex()
_request_numbers = iter(range(1, 1 << 62))


def new_request_id() -> str:
    return f"{_REQUEST_PREFIX}{next(_request_numbers):010x}"


def start_request(traceparent: str | None, request_id: str | None) -> RequestTrace:
    """The trace of a request arriving with these headers: the client's trace continued
    when its ``traceparent`` is valid (a new span of ours), a new trace otherwise; the
    client's ``X-Request-ID`` when it is a fit id, a new one otherwise."""
    request_id = valid_correlation_id(request_id) or new_request_id()
    parent = Trace.parse(traceparent)
    if parent is None:  # most requests: no Trace object made
        found = RequestTrace(*new_trace_ids(), SAMPLED, request_id)
    else:
        found = RequestTrace.of(parent.child(), request_id)
    _current.set(found)
    return found


def continue_trace(traceparent: str | None, correlationid: str | None) -> bool:
    """Go on in the request's task as part of an earlier trace (a webhook about a payment
    the buyer's request started): the commands sent from here on, and the lines logged,
    carry it (:func:`log_request_trace`). Does nothing, and answers False, unless
    ``traceparent`` is valid."""
    parent = Trace.parse(traceparent)
    found = _current.get()
    if parent is None or found is None:
        return False
    _current.set(RequestTrace.of(parent.child(),
                                 valid_correlation_id(correlationid) or found.request_id,
                                 found.user_id))
    return True


def identify(user_id: str) -> None:
    """The request being handled is ``user_id``'s: its lines say so from here on."""
    found = _current.get()
    if found is not None:
        found.user_id = user_id
    else:  # not in a request the edge traced: bound for this task's lines instead
        structlog.contextvars.bind_contextvars(user_id=user_id)


def current() -> RequestTrace | None:
    """The trace of the request being handled in this task, if any."""
    return _current.get()


def log_request_trace(logger: object, method: str, event_dict: dict) -> dict:
    """A structlog processor: every line logged while the edge handles a request carries
    the request's ``trace_id``, ``span_id`` and ``request_id``, and the caller's
    ``user_id`` once known (fields given to the line itself, or bound, win). Read from the
    request's trace when a line is made, rather than bound for each request, which cost
    every answer a few microseconds."""
    found = _current.get()
    if found is not None:
        event_dict.setdefault("trace_id", found.trace_id)
        event_dict.setdefault("span_id", found.span_id)
        event_dict.setdefault("request_id", found.request_id)
        if found.user_id is not None:
            event_dict.setdefault("user_id", found.user_id)
    return event_dict


def stamp(event: CloudEvent) -> CloudEvent:
    """``event`` as a span of the current request's trace (unchanged outside a request)."""
    found = _current.get()
    if found is None:
        return event
    return event.traced(found.trace, found.request_id)


def log_fields(event: CloudEvent) -> dict[str, str]:
    """The trace fields of a log line about ``event`` (none for an untraced message)."""
    fields: dict[str, str] = {}
    # Checked already (the schema, or made here): split rather than parse, once per line.
    parts = event.traceparent.split("-") if event.traceparent else ()
    if len(parts) == 4:
        fields["trace_id"] = parts[1]
        fields["span_id"] = parts[2]
    if event.correlationid is not None:
        fields["request_id"] = event.correlationid
    return fields


@contextlib.contextmanager
def bound(event: CloudEvent, **more: object) -> Iterator[None]:
    """Every line logged in this task inside the block carries ``event``'s trace (and
    ``more``); the fields bound before are back afterwards."""
    with structlog.contextvars.bound_contextvars(**log_fields(event), **more):
        yield
