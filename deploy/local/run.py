"""``make run``: the whole of Picasso on this machine, in the foreground.

Starts the embedded stack (Tansu, SecantusDB, MariaDB, the Firebase Auth emulator,
localstripe, an SMTP server keeping mail in a Maildir; pictures in a plain directory), then
``WORKERS`` Faust workers and ``EDGES`` edge processes sharing one port, prints where
everything is, and on Ctrl-C or SIGTERM stops every process it started, by pid, and waits
for each.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from deploy.local.processes import Edge, ProcessError, Worker, child_env
from deploy.local.stack import Stack, StackError
from picasso.settings import LOCAL_PORTS, Settings

RUN_SERVICES = ("kafka", "mongodb", "mariadb", "firebase_auth", "stripe", "smtp")


def _count(name: str) -> int:
    value = os.environ.get(name, "1")
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def main() -> int:
    data_dir = Path(os.environ.get("PICASSO_DATA_DIR") or "data").absolute()
    workers_wanted, edges_wanted = _count("WORKERS"), _count("EDGES")
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    began = time.monotonic()
    edge_port = int(os.environ.get("EDGE_PORT", LOCAL_PORTS["edge"]))
    stack = Stack(data_dir, services=RUN_SERVICES, log=lambda line: print(line, flush=True),
                  stripe_webhook_url=f"http://127.0.0.1:{edge_port}/api/v1/webhooks/stripe")
    processes: list[Worker | Edge] = []
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
        })
        logs = data_dir / "logs"
        processes += [
            Worker(f"worker-{n}", env, logs / f"worker-{n}.log", data_dir / "faust" / str(n))
            for n in range(1, workers_wanted + 1)
        ]
        processes += [Edge(f"edge-{n}", env, logs / f"edge-{n}.log")
                      for n in range(1, edges_wanted + 1)]
        for process in processes:
            process.start()
        for process in processes:
            process.wait_ready()
        settings = Settings.from_env(env)
        print(_summary(settings, stack, processes, time.monotonic() - began), flush=True)
        while not stopping.is_set():
            for process in processes:
                if not process.running():
                    raise ProcessError(f"{process.name} exited:\n{process.tail()}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\npicasso: stopping …", flush=True)
    except (StackError, ProcessError) as exc:
        print(f"picasso: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in reversed(processes):
            process.stop()
        stack.stop()
        print("picasso: stopped", flush=True)
    return 0


def _summary(settings: Settings, stack: Stack, processes: list, seconds: float) -> str:
    edge = f"http://{settings.edge_host}:{settings.edge_port}"
    lines = [
        "",
        f"Picasso is running (ready in {seconds:.1f}s). Press Ctrl-C to stop everything.",
        f"  web UI       {edge}/   (open it in a browser)",
        f"  API          {edge}/api/v1   (OpenAPI: {edge}/api/v1/openapi.json)",
        f"  health       {edge}/healthz  {edge}/readyz  {edge}/metrics",
        f"  Kafka        {settings.kafka_bootstrap}   (Tansu, in memory)",
        f"  MongoDB      {settings.mongodb_url}   (SecantusDB)",
        f"  MariaDB      127.0.0.1:{stack.ports['mariadb']}   (root, no password)",
        f"  Firebase     http://{settings.firebase_auth_emulator_host}   (Auth emulator)",
        f"  Stripe       {settings.stripe_api_base}   (localstripe; webhook to the edge)",
        f"  mail         SMTP 127.0.0.1:{stack.ports['smtp']}, stored in the Maildir "
        f"{stack.maildir}   (read it: see README, \"Mail\")",
        f"  pictures     {settings.blob_dir}   (public ones at {settings.public_media_url})",
        f"  data, logs   {stack.data_dir}   ({stack.data_dir / 'logs'})",
        "  processes    " + ", ".join(f"{p.name} (pid {p.pid})" for p in processes),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
