"""Picasso running for a benchmark: the embedded stack on free ports, workers and edges.

Like ``make run``, but on free ports under a temporary directory, with the number of
workers and edges chosen by the benchmark, and stopped (by pid) when the block ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterator, Mapping

from deploy.local.processes import Edge, Worker, child_env, edge_group, migrate, stop_all
from deploy.local.stack import Stack, free_ports
from picasso.domains import DOMAINS
from picasso.settings import Settings

SERVICES = ("kafka", "mongodb", "mariadb", "firebase_auth", "stripe", "smtp")
# Benchmarks measure throughput, not the abuse limits: every rate limit far out of reach.
NO_RATE_LIMITS = {f.name.upper(): "1000000000" for f in fields(Settings)
                  if f.name.startswith("rate_")}


@dataclass
class System:
    stack: Stack
    env: dict[str, str]
    edge_url: str
    workers: list[Worker] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    @property
    def edge_env(self) -> dict[str, str]:
        return {**self.env, "LOG_LEVEL": "warning"}

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def add_worker(self, domain: str) -> Worker:
        n = 1 + sum(w.domain == domain for w in self.workers)
        data = self.stack.data_dir
        worker = Worker(f"{domain}-{n}", self.env, data / "logs" / f"{domain}-{n}.log",
                        data / "faust" / f"{domain}-{n}", domain)
        worker.start()
        worker.wait_ready()
        self.workers.append(worker)
        return worker


def cpu_seconds(pid: int) -> float:
    """CPU seconds the process has used (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_answering(url: str, timeout_s: float = 60.0) -> None:
    """Wait until a process just started answers ``url``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s") from None
            time.sleep(0.1)


def machine() -> str:
    """Cores and memory of this machine, for every printed figure."""
    with open("/proc/meminfo") as info:
        total_kb = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
    return f"{os.cpu_count()} cores, {total_kb / 1024 / 1024:.1f} GiB"


@contextmanager
def running(*, workers: int | Mapping[str, int] = 1, edges: int = 1,
            services: tuple[str, ...] = SERVICES,
            extra_env: dict[str, str] | None = None) -> Iterator[System]:
    """Picasso with ``edges`` edge processes on one port and Faust workers: ``workers`` of
    each domain's service, or as many of each as the mapping says (``make run``'s WORKERS)."""
    counts = dict.fromkeys(DOMAINS, workers) if isinstance(workers, int) else workers
    data_dir = Path(tempfile.mkdtemp(prefix="picasso-bench-"))
    run = uuid.uuid4().hex[:8]
    ports = free_ports([*services, "edge"])
    edge_port = ports.pop("edge")
    stack = Stack(data_dir, ports=ports, services=services, log=lambda line: None,
                  stripe_webhook_url=f"http://127.0.0.1:{edge_port}/api/v1/webhooks/stripe")
    system: System | None = None
    try:
        stack.start()
        mysql = stack.mysql_url
        env = child_env({
            **stack.env(),
            "MYSQL_SHARDS": f"{mysql}/picasso_bench_s0,{mysql}/picasso_bench_s1",
            "PICASSO_APP_ID": f"picasso-bench-{run}",
            "PICASSO_TOPIC_PREFIX": f"b{run}.",
            "EDGE_PORT": str(edge_port),
            "PUBLIC_MEDIA_URL": f"http://127.0.0.1:{edge_port}/media",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{edge_port}",
            # Workers say they are ready at info level (deploy.local.processes waits for it);
            # edges log at warning (System.edge_env), a line per request would be measured.
            "LOG_LEVEL": "info",
            **NO_RATE_LIMITS,
            **(extra_env or {}),
        })
        system = System(stack, env, f"http://127.0.0.1:{edge_port}")
        # As make run's: one metrics directory for the edges of the port.
        for edge in edge_group(edges, system.edge_env, data_dir / "logs",
                               data_dir / "metrics" / "edges"):
            edge.start()
            system.edges.append(edge)
        for edge in system.edges:
            edge.wait_ready(timeout=180)
        migrate(env)
        for domain in DOMAINS:
            for _ in range(counts.get(domain, 0)):
                system.add_worker(domain)
        yield system
    finally:
        if system is not None:
            stop_all([*system.edges, *system.workers])
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
