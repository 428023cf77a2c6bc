"""A small Prometheus registry: request counts and latencies, in the text format."""

from __future__ import annotations

from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.latency_count: dict[str, int] = defaultdict(int)
        self.commands: dict[str, int] = defaultdict(int)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        buckets = self.latency_buckets[route]
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                buckets[i] += 1
        self.latency_sum[route] += seconds
        self.latency_count[route] += 1

    def command_sent(self, type_: str) -> None:
        self.commands[type_] += 1

    def render(self) -> str:
        lines = [
            "# HELP picasso_http_requests_total HTTP requests answered by the edge.",
            "# TYPE picasso_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(
                f'picasso_http_requests_total{{method="{method}",route="{route}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP picasso_http_request_duration_seconds Time to answer, by route.",
            "# TYPE picasso_http_request_duration_seconds histogram",
        ]
        for route, buckets in sorted(self.latency_buckets.items()):
            for bound, n in zip(BUCKETS, buckets):
                lines.append(
                    "picasso_http_request_duration_seconds_bucket"
                    f'{{route="{route}",le="{bound}"}} {n}'
                )
            count = self.latency_count[route]
            lines.append(
                f'picasso_http_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} {count}'
            )
            lines.append(
                f'picasso_http_request_duration_seconds_sum{{route="{route}"}} '
                f"{self.latency_sum[route]:.6f}"
            )
            lines.append(f'picasso_http_request_duration_seconds_count{{route="{route}"}} {count}')
        lines += [
            "# HELP picasso_commands_sent_total Commands the edge put on Kafka, by type.",
            "# TYPE picasso_commands_sent_total counter",
        ]
        for type_, n in sorted(self.commands.items()):
            lines.append(f'picasso_commands_sent_total{{type="{type_}"}} {n}')
        return "\n".join(lines) + "\n"
