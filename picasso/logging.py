"""structlog in front of the standard library's logging: one JSON object per line.

Every line of a process, Picasso's own and those of Faust, mode, aiokafka and aiohttp alike,
is one JSON object on stderr: structlog renders Picasso's lines, and the standard library's
handler renders the libraries' lines through structlog's ``ProcessorFormatter`` with the
same processors. Each line has ``timestamp`` (RFC 3339 UTC),
``level``, ``event`` (what happened, or a library's message), ``service`` and ``pid`` (which
process wrote it), ``logger`` for a library's line, and the context bound at the time, e.g.
an edge request's ``request_id`` and ``trace_id`` or a message's ``command_id`` and
``trace_id`` (see :mod:`picasso.tracing`). ``LOG_FORMAT=console`` writes readable lines
instead, for a terminal; ``python -m picasso.trace`` reads the JSON ones back.

Faust sets up logging again when its worker starts: :func:`logging_config` is the same
set-up as a ``dictConfig``, which each service hands to its Faust app.
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from picasso.settings import Settings
from picasso.tracing import log_request_trace

# Libraries whose info lines are worth keeping (Faust's "Ready", partition assignments);
# every other library logs from WARNING up.
CHATTY_AT_INFO = ("faust", "mode")
# The keys every JSON line has.
BASE_KEYS = ("timestamp", "level", "event", "service", "pid")
# The fields of the JSON lines that a log store indexes, with their types: the one list the
# index template of deploy/logging is rendered from (python -m deploy.logging.template). A field not
# named here is kept, and indexed as a keyword if it is a string.
LOG_FIELDS: dict[str, str] = {
    "timestamp": "date", "level": "keyword", "event": "keyword", "service": "keyword",
    "pid": "integer", "logger": "keyword",
    # Traces (picasso.tracing) and what a line is about.
    "request_id": "keyword", "trace_id": "keyword", "span_id": "keyword",
    "agent": "keyword", "type": "keyword", "command_id": "keyword", "event_id": "keyword",
    "subject": "keyword", "caused": "keyword", "user_id": "keyword", "kind": "keyword",
    "message_id": "keyword", "topic": "keyword", "partition": "integer", "offset": "long",
    # An edge request.
    "method": "keyword", "path": "keyword", "status": "integer",
    # How long, how many, and what went wrong.
    "ms": "float", "batch_ms": "float", "batch": "integer", "attempts": "integer",
    "reason": "text", "error": "text", "exception": "text",
}

_process: dict[str, Any] = {"service": "picasso"}


def _name_process(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Every line says which process wrote it (its service and pid)."""
    event_dict.setdefault("service", _process["service"])
    event_dict["pid"] = os.getpid()
    return event_dict


def _shared() -> list[Processor]:
    """What every line goes through, structlog's and the standard library's alike."""
    return [
        structlog.contextvars.merge_contextvars,
        log_request_trace,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _name_process,
    ]


def _renderer(log_format: str) -> Processor:
    if log_format == "json":
        return structlog.processors.JSONRenderer(default=str)
    return structlog.dev.ConsoleRenderer(colors=False)


def formatter(log_format: str = "json") -> structlog.stdlib.ProcessorFormatter:
    """The stdlib formatter that writes a library's records as Picasso's own lines."""
    renderer = _renderer(log_format)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared(), structlog.stdlib.add_logger_name,
                           structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def _levels(settings: Settings) -> tuple[int, int]:
    """Picasso's level, and the level of libraries' lines."""
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    return level, max(level, logging.WARNING)


def logging_config(settings: Settings) -> dict[str, Any]:
    """The stdlib part of :func:`configure` as a ``logging.config.dictConfig``."""
    level, libraries = _levels(settings)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"picasso": {"()": formatter, "log_format": settings.log_format}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "picasso"}},
        "loggers": {name: {"level": min(max(level, logging.INFO), libraries)}
                    for name in CHATTY_AT_INFO},
        "root": {"level": libraries, "handlers": ["stderr"]},
    }


def configure(settings: Settings, service: str | None = None) -> None:
    """Route structlog and the standard library's logging to stderr in one format;
    ``service`` names the process in every line (``edge``, ``reactions``, ...).

    Picasso's own lines are rendered by structlog and written straight to stderr: through
    the standard library they cost about twice as much (``BENCH=log_lines``), and the
    services write one per message. Libraries' lines take the standard library's handler,
    whose formatter renders them the same way."""
    if service is not None:
        _process["service"] = service
    level, _ = _levels(settings)
    structlog.configure(
        processors=[
            *_shared(),
            structlog.processors.format_exc_info,
            _renderer(settings.log_format),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # The stderr of now: a Faust worker later points sys.stderr at a logger.
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(logging_config(settings))
    logging.captureWarnings(True)


def service_name() -> str:
    """The name :func:`configure` gave this process."""
    return str(_process["service"])


if __name__ == "__main__":  # a smoke check: python -m picasso.logging
    configure(Settings.from_env(), "check")
    structlog.get_logger().info("structlog_line", answer=42)
    logging.getLogger("aiokafka").warning("a library's line: %s", "formatted")
    print("done", file=sys.stderr)
