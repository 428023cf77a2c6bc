"""How long a message waits at one hop of the local broker, by the consumer's fetch wait.

A Kafka broker answers a fetch it holds (nothing new yet) as soon as a message arrives; the
local broker answers it later, so the consumer's ``fetch_max_wait_ms`` becomes a delay of
every message (``BROKER_FETCH_WAIT_S``, README). For each wait: a consumer reading one topic
with it, a producer sending ``MESSAGES`` messages at random gaps (so that each arrives at a
random point of a held fetch), and the time from each send to its receipt, in one process
and on one clock. The floor is the shortest wait measured.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.system import machine
from deploy.local.stack import Stack, free_ports

WAITS_MS = (1500, 500, 200, 100, 50)  # 1,500: what Faust fixes; 500: aiokafka's default
MESSAGES = 30
GAP_S = (0.05, 0.3)


async def _hop(bootstrap: str, wait_ms: int) -> list[float]:
    topic = f"fetch-wait-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest", fetch_max_wait_ms=wait_ms)
    try:
        await producer.send_and_wait(topic, b"0")  # the topic exists before the consumer
        await consumer.start()
        await asyncio.sleep(1.0)  # positioned at the end, fetching
        latencies: list[float] = []

        async def receive() -> None:
            async for message in consumer:
                latencies.append((time.perf_counter() - float(message.value)) * 1000)
                if len(latencies) == MESSAGES:
                    return

        receiving = asyncio.create_task(receive())
        rng = random.Random(wait_ms)
        for _ in range(MESSAGES):
            await asyncio.sleep(rng.uniform(*GAP_S))
            await producer.send_and_wait(topic, str(time.perf_counter()).encode())
        await asyncio.wait_for(receiving, 30)
        return sorted(latencies)
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> dict:
    print(f"one hop of the local broker, by fetch wait — machine: {machine()}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="picasso-fetch-wait-") as data:
        stack = Stack(Path(data), ports=free_ports(["kafka"]), services=("kafka",),
                      log=lambda line: None)
        stack.start()
        try:
            bootstrap = stack.env()["KAFKA_BOOTSTRAP"]
            for wait_ms in WAITS_MS:
                hops = asyncio.run(_hop(bootstrap, wait_ms))
                results[wait_ms] = {"p50_ms": hops[len(hops) // 2], "max_ms": hops[-1]}
        finally:
            stack.stop()
    floor = results[min(WAITS_MS)]["p50_ms"]
    for wait_ms, hop in results.items():
        print(f"fetch wait {wait_ms:>5} ms: send → receipt p50 {hop['p50_ms']:.0f} ms, "
              f"max {hop['max_ms']:.0f} ms ({hop['p50_ms'] / floor:.1f}x the shortest wait's "
              f"p50) over {MESSAGES} messages", flush=True)
    return results


if __name__ == "__main__":
    main()
