"""The request middleware's metrics, counted in memory and added to Prometheus in batches
(web.metrics.Metrics.flush): the same series as observing each request at once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from web.metrics import HTTP_REQUESTS, HTTP_SECONDS, LATENCY_BUCKETS, Metrics


def _samples(metric, **labels) -> dict[tuple, float]:
    return {(s.name, s.labels.get("le")): s.value for family in metric.collect()
            for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())
            and not s.name.endswith("_created")}


def test_a_flush_adds_what_observing_each_request_would() -> None:
    route = "/test/batched/{id}"
    seconds = [0.0001, 0.005, 0.0051, 0.01, 0.3, 0.3, 2.4, 31.0, 0.0]
    expected = Histogram("expected_seconds", "the same, one by one", buckets=LATENCY_BUCKETS,
                         registry=CollectorRegistry())
    for value in seconds:
        expected.observe(value)
    metrics = Metrics()
    for value in seconds:
        metrics.observe_request("GET", route, 200, value)
    metrics.observe_request("POST", route, 503, 0.02)
    before = _samples(HTTP_SECONDS, route=route)
    assert not any(v for (name, _), v in before.items())  # nothing until the flush
    metrics.flush()
    got = {(name.replace("picasso_http_request_duration_seconds", "x"), le): v
           for (name, le), v in _samples(HTTP_SECONDS, route=route).items()}
    want = {(name.replace("expected_seconds", "x"), le): v
            for (name, le), v in _samples(expected).items()}
    want[("x_bucket", "0.025")] += 1  # the POST
    for le in ("0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "+Inf"):
        want[("x_bucket", le)] += 1
    want[("x_count", None)] += 1
    want[("x_sum", None)] += 0.02
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert abs(got[key] - value) < 1e-9, key
    totals = {(s.labels["method"], s.labels["status"]): s.value
              for family in HTTP_REQUESTS.collect() for s in family.samples
              if s.labels.get("route") == route and s.name.endswith("_total")}
    assert totals == {("GET", "200"): len(seconds), ("POST", "503"): 1}
    metrics.flush()  # nothing new: nothing added
    assert {(s.labels["method"], s.labels["status"]): s.value
            for family in HTTP_REQUESTS.collect() for s in family.samples
            if s.labels.get("route") == route and s.name.endswith("_total")} == totals
