"""The edge's Prometheus metrics (prometheus-client), exposed at ``/metrics``.

Every metric the edge exposes is declared here, once; what every process shares (start time,
readiness) and how a process renders its metrics are in :mod:`picasso.metrics`. Under
``make run`` the edges of one port share a ``PROMETHEUS_MULTIPROC_DIR``, so whichever edge
answers a scrape reports the totals of all of them; gauges say how they add up
(``multiprocess_mode``): open streams and waiting requests are summed over the live edges.
"""

from __future__ import annotations

from bisect import bisect_left

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


# How often the requests counted in the edge's memory are added to the metrics (and before
# every scrape of this edge): under PROMETHEUS_MULTIPROC_DIR each series' value is written
# to a shared memory-mapped file under a lock, three writes a request, which was the
# largest part of the request middleware's time in the feed's profile.
FLUSH_INTERVAL_S = 1.0


class Metrics:
    """What the request middleware and the command sender count.

    Requests are counted in plain dictionaries and added to ``HTTP_REQUESTS`` and
    ``HTTP_SECONDS`` by :meth:`flush` (every ``FLUSH_INTERVAL_S``, before this edge renders
    ``/metrics``, and when it stops): a scrape of another edge of the port sees this one's
    requests up to ``FLUSH_INTERVAL_S`` late."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], int] = {}
        # Per route: the count in each of HTTP_SECONDS's buckets (the last is +Inf), and
        # the sum of the seconds.
        self._seconds: dict[str, tuple[list[int], list[float]]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        latency = self._seconds.get(route)
        if latency is None:
            latency = self._seconds[route] = ([0] * (len(LATENCY_BUCKETS) + 1), [0.0])
        # The bucket Histogram.observe would count it in: the first bound >= seconds.
        latency[0][bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency[1][0] += seconds

    def flush(self) -> None:
        """Add the requests counted since the last flush to the Prometheus metrics."""
        requests, self._requests = self._requests, {}
        seconds, self._seconds = self._seconds, {}
        for (method, route, status), count in requests.items():
            HTTP_REQUESTS.labels(method, route, str(status)).inc(count)
        for route, (buckets, total) in seconds.items():
            series = HTTP_SECONDS.labels(route)
            # Histogram has no public way to add many observations at once; these are the
            # values its observe() adds to (tests/unit/test_metrics.py checks the result).
            series._sum.inc(total[0])
            for bucket, count in zip(series._buckets, buckets):
                if count:
                    bucket.inc(count)

    def command_sent(self, type_: str) -> None:
        COMMANDS_SENT.labels(type_).inc()

    def command_refused(self, type_: str) -> None:
        COMMANDS_REFUSED.labels(type_).inc()
