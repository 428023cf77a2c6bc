"""The embedded stack, started once per test session, and Picasso's processes on top of it.

Each session gets its own free ports, data directory, Faust app id (consumer group) and
topic prefix; tests isolate themselves further by creating their own users and pictures.
"""

from __future__ import annotations

import math
import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from deploy.local.processes import (
    Edge,
    Worker,
    child_env,
    domain_workers,
    edge_group,
    migrate,
    stop_all,
)
from deploy.local.stack import SERVICES, Stack, free_ports
from picasso.domains import DOMAINS
from picasso.settings import Settings

MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # small, so the size limit is cheap to test
# The MongoDB server's TTL pass every 2 s instead of mongod's minute: the inboxes' window
# (tests/integration/test_inbox_retention.py) is seen honoured without waiting a minute.
TTL_SWEEP_S = 2.0


RATE_LIMITS = ("RATE_AUTH_PER_ADDRESS_PER_MIN", "RATE_AUTH_PER_EMAIL_PER_MIN",
               "RATE_LIKES_PER_USER_PER_MIN", "RATE_COMMENTS_PER_USER_PER_MIN",
               "RATE_FOLLOWS_PER_USER_PER_MIN",
               "RATE_UPLOADS_PER_USER_PER_MIN",
               "RATE_PURCHASES_PER_USER_PER_MIN")
SESSION = uuid.uuid4().hex[:8]
EDGE_PORT = free_ports(["edge"])["edge"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    webhook = f"http://127.0.0.1:{EDGE_PORT}/api/v1/webhooks/stripe"
    with Stack(data_dir, ports=free_ports(SERVICES), log=lambda line: None,
               stripe_webhook_url=webhook, ttl_sweep_s=TTL_SWEEP_S) as running:
        yield running


@pytest.fixture(scope="session")
def system_env(stack: Stack) -> dict[str, str]:
    """Settings (as environment variables) for this session's workers and edge."""
    session = SESSION
    mysql = stack.mysql_url
    return child_env({
        **stack.env(),
        "MYSQL_SHARDS": f"{mysql}/picasso_{session}_s0,{mysql}/picasso_{session}_s1",
        "PICASSO_ENV": "test",
        "PICASSO_APP_ID": f"picasso-test-{session}",
        "PICASSO_TOPIC_PREFIX": f"t{session}.",
        "MONGODB_DATABASE": f"picasso_{session}",
        "EDGE_PORT": str(EDGE_PORT),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{EDGE_PORT}",
        "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        # Tests read their own writes at once; the page cache is tested on its own.
        "FEED_CACHE_TTL_S": "0",
        "MARKS_CACHE_TTL_S": "0",  # tests/e2e/test_feed_marks.py starts an edge that keeps them
        # Low, so that three follows put an account over it (its pictures merged in when
        # followers read, never fanned out): tests/integration/test_timeline.py.
        "TIMELINE_FANOUT_MAX_FOLLOWERS": "2",
        # Many tests sign up, like and buy from one address: limits far above what the suite
        # does; tests/e2e/test_abuse.py starts an edge of its own with low ones.
        **{name: "1000000" for name in RATE_LIMITS},
        # Tests stop and kill workers while they send: the edge would refuse their likes
        # (web.backlog); tests/e2e/test_backpressure.py starts an edge of its own with it on.
        "BACKLOG_MAX_AGE_S": "0",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "info"),
    })


@pytest.fixture(scope="session")
def settings(system_env: dict[str, str]) -> Settings:
    return Settings.from_env(system_env)


@pytest.fixture(scope="session")
def ledger_schema(system_env: dict[str, str]) -> None:
    """The explicit migration step (`faust -A agents.purchases.app migrate`), before any
    worker of the session starts: `make run` does the same."""
    migrate(system_env)


@pytest.fixture(scope="session")
def workers(system_env: dict[str, str], stack: Stack,
            ledger_schema: None) -> Iterator[dict[str, Worker]]:
    """One worker of each domain's service, by domain."""
    started = domain_workers(dict.fromkeys(DOMAINS, 1), system_env, stack.data_dir / "logs",
                             stack.data_dir / "faust")
    try:
        for process in started:
            process.start()
        for process in started:
            process.wait_ready()
        yield {process.domain: process for process in started}
    finally:
        stop_all(started)


@pytest.fixture(scope="session")
def edge(system_env: dict[str, str], stack: Stack) -> Iterator[Edge]:
    # In prometheus-client's multiprocess mode, as make run's edges are.
    process, = edge_group(1, system_env, stack.data_dir / "logs",
                          stack.data_dir / "metrics" / "edges")
    process.start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def system(edge: Edge, workers: dict[str, Worker]) -> str:
    """The running system's base URL (an edge and one worker of each service)."""
    return edge.url


# Tests that build or run container images share podman's storage and the machine's two cores:
# under xdist they all go to one worker, one after another (`pytestmark` in those modules).
CONTAINERS = pytest.mark.xdist_group("containers")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` runs the suite in several xdist workers, each a test session of its own
    (its own stack of servers, Picasso processes, topic prefix and database); with
    `--dist loadgroup` a module's tests stay on one worker, so its module fixtures start once,
    and the modules marked CONTAINERS share one worker between them."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


# What one test session's stack, workers and edge hold in memory (about 2 GB measured with
# two sessions running, 2026-12-04), with room for a browser or a container test beside it.
SESSION_MEMORY_BYTES = 3 * 2**30
# Past this many sessions the longest modules (the containers, hosts and supervision tests,
# 70-110 s each) bound the run, and every session more starts a whole stack for nothing.
MAX_SESSIONS = 8


def cores_available(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may run on: its CPU affinity, lowered by its cgroup's CPU
    quota (a container limited to 2 CPUs on a 64-core host may use 2)."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))


def memory_available() -> int:
    """Bytes the kernel says new processes may take (MemAvailable), or 0 if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: `-p no:xdist` runs without it
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """How many test sessions `make test` (`-n auto`) runs: three for every two cores, as
    many as the memory holds. A session waits about a third of its time (its servers'
    answers, rebalances, restarts); on 2 cores (2026-12-04) 2 sessions took 504 s with the
    CPU 57% busy, 3 took 415 s (77%), 4 took 450 s: past that they share cores they need."""
    wanted = max(1, min(MAX_SESSIONS, cores_available() * 3 // 2))
    memory = memory_available()
    return max(1, min(wanted, memory // SESSION_MEMORY_BYTES)) if memory else wanted


def pytest_report_header(config: pytest.Config) -> str:
    return f"picasso: real embedded stack under {Path.cwd()}"
