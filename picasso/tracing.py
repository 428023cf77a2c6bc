"""A request's trace in this process: where it comes from, and which log lines carry it.

The edge starts (or continues, from the client's ``traceparent`` header) a trace for each
request and puts it on the commands it sends (:func:`stamp`); every service handles a
message inside :func:`bound`, so that each line it logs meanwhile, its own or a library's,
carries the message's ``trace_id``, ``span_id`` and ``request_id``. The CloudEvents side is
:mod:`topics.tracecontext`.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

import structlog

from topics.envelope import CloudEvent
from topics.tracecontext import Trace, valid_correlation_id

# The fields of a log line that name a trace (deploy/logging's index template maps them).
TRACE_KEYS = ("trace_id", "span_id", "request_id")


@dataclass(frozen=True)
class RequestTrace:
    """The edge's trace of one request: its own span and the request id."""

    trace: Trace
    request_id: str


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
    parent = Trace.parse(traceparent)
    trace = parent.child() if parent is not None else Trace.new()
    found = RequestTrace(trace, valid_correlation_id(request_id) or new_request_id())
    _current.set(found)
    return found


def continue_trace(traceparent: str | None, correlationid: str | None) -> bool:
    """Go on in the request's task as part of an earlier trace (a webhook about a payment
    the buyer's request started): the commands sent from here on, and the lines logged,
    carry it. Does nothing, and answers False, unless ``traceparent`` is valid."""
    parent = Trace.parse(traceparent)
    found = _current.get()
    if parent is None or found is None:
        return False
    trace = parent.child()
    _current.set(RequestTrace(trace, valid_correlation_id(correlationid) or found.request_id))
    structlog.contextvars.bind_contextvars(trace_id=trace.trace_id, span_id=trace.span_id)
    return True


def current() -> RequestTrace | None:
    """The trace of the request being handled in this task, if any."""
    return _current.get()


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
