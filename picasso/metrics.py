"""Picasso's Prometheus metrics: what the workers count, and how any process exposes its own.

Every metric a worker exposes is declared here, once (the edge's are in ``web/metrics.py``);
the alert rules (``deploy/prometheus/alerts.yml``) and the README's "Metrics" section use
these names. ``tests/unit/test_metrics.py`` checks that every name the rules use is one.

A process is in prometheus-client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is
set before it starts: its metrics then live in files of that directory, and any process of
the group answers a scrape with the totals of all (``make run``'s edges, which share one
port). Such a directory is cleared before its group starts (``deploy.local.processes``).
Workers each have an address of their own and keep their metrics in memory.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

# The ``_created`` series double every counter and say nothing Prometheus needs.
disable_created_metrics()

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Seconds: from a single message's few milliseconds to a batch waiting on a store's retry.
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)

# -- every process -----------------------------------------------------------------------

PROCESS_STARTED = Gauge(
    "picasso_process_started_time_seconds",
    "When this process started, in Unix time: one series per running process.",
    # In multiprocess mode, one series per live process (a ``pid`` label).
    multiprocess_mode="liveall")
READY = Gauge(
    "picasso_ready",
    "1 while the dependency answers this process's readiness check, 0 while it does not "
    "(the same checks as /readyz).",
    ["dependency"], multiprocess_mode="livemin")

# -- workers: the agent runtime (picasso/runtime.py, picasso/service.py) ---------------------

MESSAGES_APPLIED = Counter(
    "picasso_messages_applied",
    "Messages an agent applied (or found applied before: a redelivery), by type.",
    ["agent", "type"])
MESSAGES_DEAD_LETTERED = Counter(
    "picasso_messages_dead_lettered",
    "Messages an agent put on the dead-letter topic, by type (unknown: it did not parse).",
    ["agent", "type"])
MESSAGES_RETRIED = Counter(
    "picasso_messages_retried",
    "Retries after a dependency's passing failure, per message and type.",
    ["agent", "type"])
BATCH_SIZE = Histogram(
    "picasso_batch_size", "Messages per batch an agent took from its stream.",
    ["agent"], buckets=BATCH_BUCKETS)
BATCH_SECONDS = Histogram(
    "picasso_batch_handling_seconds",
    "Time to handle a batch taken from the stream, until every message in it was applied "
    "or dead-lettered.", ["agent"], buckets=SECONDS_BUCKETS)
MESSAGE_SECONDS = Histogram(
    "picasso_message_handling_seconds",
    "Time to handle one message, by type (agents that apply one message at a time).",
    ["agent", "type"], buckets=SECONDS_BUCKETS)
CONSUMER_LAG = Gauge(
    "picasso_consumer_lag",
    "Messages on a partition this worker consumes that its group has not committed yet.",
    ["topic", "partition"], multiprocess_mode="livemax")

# -- workers: mail and payments ------------------------------------------------------------

MAIL_SENT = Counter("picasso_mail_sent", "Mails the relay accepted, by kind.", ["kind"])
MAIL_FAILED = Counter(
    "picasso_mail_failed",
    "Mails given up (refused by the relay, or not accepted in time), by kind.", ["kind"])
PAYMENTS = Counter(
    "picasso_payments",
    "Purchases that reached an outcome of money: completed, failed, refunded, disputed.",
    ["outcome", "currency"])
PAYMENT_CENTS = Counter(
    "picasso_payment_cents",
    "Amounts of those purchases, in cents of their currency, by outcome.",
    ["outcome", "currency"])


def mark_started() -> None:
    """Set this process's start time (once, as the process starts serving)."""
    PROCESS_STARTED.set(time.time())


def exposition() -> tuple[bytes, str]:
    """This process's metrics in the Prometheus text format, and its content type; in
    multiprocess mode those of every process sharing the directory."""
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int, directory: str) -> None:
    """Forget the live gauges of an ended process of a multiprocess group (its counters
    stay in the totals)."""
    _multiprocess.mark_process_dead(pid, directory)
