"""The edge's Prometheus metrics (prometheus-client), exposed at ``/metrics``.

Every metric the edge exposes is declared here, once; what every process shares (start time,
readiness) and how a process renders its metrics are in :mod:`picasso.metrics`. Under
``make run`` the edges of one port share a ``PROMETHEUS_MULTIPROC_DIR``, so whichever edge
answers a scrape reports the totals of all of them; gauges say how they add up
(``multiprocess_mode``): open streams and waiting requests are summed over the live edges.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds to answer: from a cached feed page to a long poll's whole wait.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "picasso_http_requests", "HTTP requests answered by the edge.",
    ["method", "route", "status"])
HTTP_SECONDS = Histogram(
    "picasso_http_request_duration_seconds", "Time to answer, by route.",
    ["route"], buckets=LATENCY_BUCKETS)
COMMANDS_SENT = Counter(
    "picasso_commands_sent", "Commands the edge put on Kafka, by type.", ["type"])
COMMANDS_REFUSED = Counter(
    "picasso_commands_refused", "Commands the edge refused because their service was behind "
    "(web.backlog), by type.", ["type"])
LONG_POLL_CHECKS = Counter(
    "picasso_long_poll_checks", "Store checks made for waiting requests.")
LONG_POLL_WAITERS = Gauge(
    "picasso_long_poll_waiters", "Requests waiting (wait_ms) now.",
    multiprocess_mode="livesum")
LIVE_STREAMS = Gauge(
    "picasso_live_streams", "Live update streams open.", multiprocess_mode="livesum")
LIVE_EVENTS = Counter(
    "picasso_live_events", "Events the edges' live consumers fanned out.")
LIVE_MESSAGES = Counter("picasso_live_messages", "Messages queued for live streams.")
LIVE_DROPPED = Counter(
    "picasso_live_dropped", "Streams closed because their client did not read.")
LIVE_REFUSED = Counter(
    "picasso_live_refused", "Streams refused, by the limit reached.", ["limit"])


# Labelled series the request middleware keeps at hand (looking one up by its labels costs
# more than counting in it); past this many, it looks them up each time.
_KEPT_SERIES = 1000


class Metrics:
    """What the request middleware and the command sender count."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], tuple] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        series = self._requests.get((method, route, status))
        if series is None:
            series = (HTTP_REQUESTS.labels(method, route, str(status)),
                      HTTP_SECONDS.labels(route))
            if len(self._requests) < _KEPT_SERIES:
                self._requests[(method, route, status)] = series
        series[0].inc()
        series[1].observe(seconds)

    def command_sent(self, type_: str) -> None:
        COMMANDS_SENT.labels(type_).inc()

    def command_refused(self, type_: str) -> None:
        COMMANDS_REFUSED.labels(type_).inc()
