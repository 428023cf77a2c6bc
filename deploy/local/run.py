"""``make run``: the whole of Picasso on this machine, in the foreground.

Starts the embedded stack (Tansu, SecantusDB, MariaDB, the Firebase Auth emulator,
localstripe, an SMTP server keeping mail in a Maildir, Prometheus scraping every edge and
worker; pictures in a plain directory), then
one Faust worker per domain's service (``WORKERS``: ``2`` for two of each, or
``reactions:2,mail:1``, a domain left out getting one) and ``EDGES`` edge processes sharing
one port, prints where
everything is, and keeps them running: a server, worker or edge that dies is started again
(:mod:`deploy.local.supervisor`) and the others go on.

On Ctrl-C or SIGTERM it stops the edges first (nothing new is accepted), waits up to
``DRAIN_TIMEOUT_S`` (30 s) until the workers have applied every command already accepted
(a second Ctrl-C stops at once), then stops the workers and the servers, by pid, and waits
for each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence

from deploy.local.processes import (
    Edge,
    ProcessError,
    Worker,
    child_env,
    domain_workers,
    edge_group,
    faust_command,
    migrate,
    stop_all,
    worker_ports,
)
from deploy.local.servers import prometheus
from deploy.local.stack import Stack, StackError
from deploy.local.supervisor import Supervisor
from picasso.domains import DOMAINS, parse_counts
from picasso.numbers import whole_number
from picasso.settings import LOCAL_PORTS, Settings

RUN_SERVICES = ("kafka", "mongodb", "mariadb", "firebase_auth", "stripe", "smtp",
                "prometheus")


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name, str(default))
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"{name} must be a number of seconds, not {value!r}") from None


def _count(name: str, default: str = "1") -> int:
    value = os.environ.get(name, default)
    count = whole_number(value)
    if count is None or count < 1:
        raise SystemExit(f"{name} must be a whole number of at least 1, not {value!r}")
    return count


def _worker_counts() -> dict[str, int]:
    """``WORKERS``: a number for every domain, or ``reactions:2,mail:1,...``."""
    try:
        return parse_counts(os.environ.get("WORKERS", "1"))
    except ValueError as exc:
        raise SystemExit(f"WORKERS: {exc}") from None


def main() -> int:
    data_dir = Path(os.environ.get("PICASSO_DATA_DIR") or "data").absolute()
    workers_wanted, edges_wanted = _worker_counts(), _count("EDGES")
    # Each process's log (JSON lines, read by python -m picasso.trace) is kept under this
    # size, plus one rotated part (<name>.log.1).
    log_max_bytes = _count("LOG_MAX_MB", "50") * 1024 * 1024
    drain_timeout = _seconds("DRAIN_TIMEOUT_S", 30.0)
    stopping = threading.Event()
    hurry = threading.Event()  # a second Ctrl-C: stop without draining

    def on_signal(signum: int, frame: object) -> None:
        if stopping.is_set():
            hurry.set()
            return
        stopping.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    began = time.monotonic()
    edge_port = int(os.environ.get("EDGE_PORT", LOCAL_PORTS["edge"]))
    stack = Stack(data_dir, services=RUN_SERVICES, log=lambda line: print(line, flush=True),
                  stripe_webhook_url=f"http://127.0.0.1:{edge_port}/api/v1/webhooks/stripe")
    workers: list[Worker] = []
    edges: list[Edge] = []
    supervisor: Supervisor | None = None
    env: dict[str, str] = {}
    try:
        stack.start()
        env = child_env({
            **stack.env(),
            "EDGE_PORT": str(edge_port),
            "PUBLIC_MEDIA_URL": os.environ.get("PUBLIC_MEDIA_URL",
                                               f"http://127.0.0.1:{edge_port}/media"),
            # Where links in mails point (receipts' downloads, unsubscribe links).
            "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL",
                                              f"http://127.0.0.1:{edge_port}"),
            # JSON lines in data/logs, which python -m picasso.trace reads.
            "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
        })
        logs = data_dir / "logs"
        for line in migrate(env):
            print(f"picasso: {line}", flush=True)
        workers += domain_workers(workers_wanted, env, logs, data_dir / "faust",
                                  metrics_ports=worker_ports(sum(workers_wanted.values())))
        edges += edge_group(edges_wanted, env, logs, data_dir / "metrics" / "edges")
        scrape(data_dir, workers, edges)
        for process in [*workers, *edges]:
            process.start()
        for process in [*workers, *edges]:
            process.wait_ready()
        settings = Settings.from_env(env)
        supervisor = Supervisor(stack, [*workers, *edges], env,
                                log=lambda line: print(line, flush=True))
        print(_summary(settings, stack, [*workers, *edges], time.monotonic() - began),
              flush=True)
        ticks = 0
        while not stopping.is_set():
            supervisor.tick()
            ticks += 1
            if ticks % 20 == 0:  # every ten seconds or so
                for process in [*workers, *edges]:
                    process.bound_log(log_max_bytes)
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\npicasso: stopping …", flush=True)
    except (StackError, ProcessError) as exc:
        print(f"picasso: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stopping.set()
        if supervisor is not None:
            for edge in edges:
                supervisor.unwatch(edge.name)
        stop_all(edges)  # nothing new is accepted from here on
        if supervisor is not None and not hurry.is_set():
            _drain(env, supervisor, hurry, drain_timeout,
                   [d for d in DOMAINS if workers_wanted[d]])
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stop itself is not cut short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(workers)
        stack.stop()
        if supervisor is not None and supervisor.restarts:
            counts = ", ".join(f"{name} {n}x" for name, n in supervisor.restarts.items())
            print(f"picasso: restarted while running: {counts}", flush=True)
        print("picasso: stopped", flush=True)
    return 0


def _drain(env: Mapping[str, str], supervisor: Supervisor, hurry: threading.Event,
           timeout: float, domains: Sequence[str]) -> None:
    """Wait until each domain's workers have applied what was accepted, at most ``timeout``.

    One ``lag --wait`` per domain, side by side. The workers keep running (and are restarted
    if they die) meanwhile; a second Ctrl-C stops waiting."""
    print(f"picasso: waiting up to {timeout:.0f}s until every accepted command is applied "
          "(Ctrl-C again to stop now) …", flush=True)
    lines: list[str] = []
    lags = [subprocess.Popen([*faust_command(domain), "lag", "--wait", str(timeout)],
                             env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
            for domain in domains]
    readers = [threading.Thread(target=_echo_lag, args=(lag.stdout, lines), daemon=True)
               for lag in lags]
    for reader in readers:
        reader.start()
    while any(lag.poll() is None for lag in lags):
        if hurry.is_set():
            for lag in lags:
                lag.terminate()
            print("picasso: stopping without waiting for the rest", flush=True)
            break
        supervisor.tick()
        time.sleep(0.2)
    for lag, reader in zip(lags, readers):
        lag.wait()
        lag.stdout.close()
        reader.join(timeout=2)
    if all(lag.returncode == 0 for lag in lags):
        print("picasso: every accepted command is applied", flush=True)
    elif not hurry.is_set():
        last = lines[-1] if lines else "no answer from the broker"
        print(f"picasso: stopping with work left ({last}); the broker keeps it in memory "
              "only, so it is lost (README, \"Reliability\")", flush=True)


def _echo_lag(stream, lines: list[str]) -> None:
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        if line.startswith("lag: "):
            lines.append(line)
            print(f"picasso: {line[5:]}", flush=True)


def scrape(data_dir: Path, workers: Sequence[Worker], edges: Sequence[Edge]) -> None:
    """Have Prometheus scrape the edges' port and every worker's endpoint."""
    prometheus.write_targets(data_dir, "edge",
                             [(address, {}) for address in sorted({e.address for e in edges})])
    prometheus.write_targets(data_dir, "worker", [
        (w.metrics_address, {"service": w.domain, "process": w.name}) for w in workers])


def _summary(settings: Settings, stack: Stack, processes: list, seconds: float) -> str:
    edge = f"http://{settings.edge_host}:{settings.edge_port}"
    lines = [
        "",
        f"Picasso is running (ready in {seconds:.1f}s). Press Ctrl-C to stop everything.",
        f"  web UI       {edge}/   (open it in a browser)",
        f"  API          {edge}/api/v1   (OpenAPI: {edge}/api/v1/openapi.json)",
        f"  health       {edge}/healthz  {edge}/readyz  {edge}/metrics",
        f"  metrics      http://127.0.0.1:{stack.ports['prometheus']}   (Prometheus: every "
        "edge and worker; /classic/targets, /classic/alerts; README, \"Metrics\")",
        "  workers      " + ", ".join(f"{p.name} {p.metrics_url}" for p in processes
                                      if isinstance(p, Worker)),
        f"  Kafka        {settings.kafka_bootstrap}   (Tansu, in memory)",
        f"  MongoDB      {settings.mongodb_url}   (SecantusDB)",
        f"  MariaDB      127.0.0.1:{stack.ports['mariadb']}   (root, no password)",
        f"  Firebase     http://{settings.firebase_auth_emulator_host}   (Auth emulator)",
        f"  Stripe       {settings.stripe_api_base}   (localstripe; webhook to the edge)",
        f"  mail         SMTP 127.0.0.1:{stack.ports['smtp']}, stored in the Maildir "
        f"{stack.maildir}   (read it: see README, \"Mail\")",
        f"  pictures     {settings.blob_dir}   (public ones at {settings.public_media_url})",
        f"  data, logs   {stack.data_dir}   ({stack.data_dir / 'logs'}; one request's "
        "path: python -m picasso.trace <id>)",
        "  processes    " + ", ".join(f"{p.name} (pid {p.pid})" for p in processes),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
