"""What Picasso costs while nobody uses it: the CPU of every process of a system at rest.

One worker of each service, an edge and the embedded stack (as ``make run`` starts them)
with no request at all: each process's CPU time over ``WINDOW_S``, read from /proc. The
floor, in the same run: a bare aiokafka consumer in a group on the same broker, long-polling
one topic, which is what any Kafka consumer costs at rest. A worker holds one such consumer
and its own loops (commits, sweeps, refreshes), so its ratio to the floor is what the
service's own machinery adds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.system import cpu_seconds, running
from picasso.domains import DOMAINS

SETTLE_S = 15.0
WINDOW_S = 30.0

BARE_CONSUMER = """
import asyncio, sys
from aiokafka import AIOKafkaConsumer
async def main():
    consumer = AIOKafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1],
                                group_id=sys.argv[3], enable_auto_commit=True)
    await consumer.start()
    print("consuming", flush=True)
    async for _ in consumer:
        pass
asyncio.run(main())
"""


def main() -> dict:
    with running(workers=1) as system:
        topic = f"{system.env['PICASSO_TOPIC_PREFIX']}idle-floor"
        bare = subprocess.Popen([sys.executable, "-c", BARE_CONSUMER,
                                 system.env["KAFKA_BOOTSTRAP"], topic, f"idle-floor-{os.getpid()}"],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert bare.stdout is not None and bare.stdout.readline().strip() == "consuming"
            time.sleep(SETTLE_S)
            pids = {f"worker {w.domain}": w.pid for w in system.workers}
            pids.update({f"edge {n}": e.pid for n, e in enumerate(system.edges, 1)})
            pids.update({f"server {name}": system.stack.process(name).pid
                         for name in system.stack.services if system.stack.process(name)})
            pids["floor: bare consumer"] = bare.pid
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            time.sleep(WINDOW_S)
            share = {name: (cpu_seconds(pid) - before[name]) / WINDOW_S
                     for name, pid in pids.items()}
        finally:
            bare.terminate()
            bare.wait(30)
    floor = share.pop("floor: bare consumer")
    workers = sum(v for k, v in share.items() if k.startswith("worker "))
    print(f"idle: {WINDOW_S:.0f} s at rest, CPU as a share of one core", flush=True)
    for name, value in sorted(share.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<24} {value * 100:5.1f}%", flush=True)
    print(f"  floor (a bare consumer)  {floor * 100:5.1f}%", flush=True)
    each = workers / len(DOMAINS)
    print(f"  {len(DOMAINS)} workers: {workers * 100:.1f}% in all, {each * 100:.1f}% each "
          f"({each / max(floor, 1e-6):.1f}x the floor); the whole system "
          f"{sum(share.values()) * 100:.1f}%", flush=True)
    return {"floor": floor, "workers": workers, "total": sum(share.values()),
            "each": share}
