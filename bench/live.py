"""Benchmark: live updates from one edge to 1,000 subscribers, and what each costs the edge.

1,000 clients hold ``GET /api/v1/live?pictures=<id>`` open on one edge, all watching one
picture; a user likes it (then takes it back, and so on: each is a new like count), and the
figure is the time from the like's 202 until each subscriber has the new count: p50 and p99
over every (like, subscriber), and the time until the last one has it. The baseline, in the
same run: the same likes with a single subscriber, so the difference is what fanning out
to 1,000 costs. The path measured is the whole one: the command on Kafka, the reactions
service applying it and putting ``PictureLiked`` on Kafka, the edge's consumer, its fan-out.

The subscribers are an aiohttp client in a process of its own (``python -m bench.live
client``, its RLIMIT_NOFILE raised), so the edge is measured alone; its memory per
connection is its RSS with 1,000 streams open (after a like reached them all) less its RSS
before any, over 1,000.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time

import aiohttp
from aiokafka import AIOKafkaConsumer

from bench.system import machine, running
from tests.helpers import Api, LiveStream, jpeg_with_gps
from topics.reactions import PICTURE_LIKED

SUBSCRIBERS, LIKES = 1000, 10
# Every subscriber comes from 127.0.0.1: the per-address limit (for visitors) is raised.
ENV = {"LIVE_MAX_PER_ADDRESS": str(SUBSCRIBERS + 100), "RATE_LIKES_PER_USER_PER_MIN": "10000"}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1])


# -- the subscribers' process


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


async def _subscribers(edge_url: str, picture_id: str, token: str, bootstrap: str,
                       topic: str) -> None:
    """Talks with the benchmark by lines: ``open N`` (answered ``open N`` once N streams
    are ready), ``likes`` (answered with the latencies of LIKES likes as JSON), ``quit``."""
    streams: list[LiveStream] = []
    arrivals: list[float] = []
    on_kafka: list[float] = []  # when PictureLiked reached a plain consumer of the topic
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest", fetch_max_wait_ms=10)
    await consumer.start()

    async def watch_topic() -> None:
        async for record in consumer:
            if json.loads(record.value)["data"].get("picture_id") == picture_id:
                on_kafka.append(time.monotonic())

    readers: list[asyncio.Task] = [asyncio.create_task(watch_topic())]
    everyone = asyncio.Event()
    lines = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), sys.stdin)

    async def read(stream: LiveStream) -> None:
        while True:
            message = await stream.message()
            if message.event == "likes":
                arrivals.append(time.monotonic())
                if len(arrivals) == len(streams):
                    everyone.set()

    gate = asyncio.Semaphore(50)  # connections opened at once
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        api = Api(http, edge_url)
        while (command := (await lines.readline()).decode().split()) and command[0] != "quit":
            if command[0] == "open":
                wanted = int(command[1])

                async def one() -> LiveStream:
                    async with gate:
                        stream = await LiveStream.open(http, edge_url, [picture_id])
                        assert stream.answer.status == 200, await stream.answer.text()
                        await stream.until("ready")
                        return stream

                fresh = await asyncio.gather(*(one() for _ in range(wanted - len(streams))))
                streams += fresh
                readers += [asyncio.create_task(read(s)) for s in fresh]
                print(f"open {len(streams)}", flush=True)
            elif command[0] == "likes":
                latencies, lasts, kafka, fanout = [], [], [], []
                liked = False
                for _ in range(LIKES):
                    arrivals.clear()
                    on_kafka.clear()
                    everyone.clear()
                    method = "DELETE" if liked else "PUT"
                    status, body, _ = await api.call(method,
                                                     f"/api/v1/pictures/{picture_id}/like",
                                                     headers={"Authorization": f"Bearer {token}"})
                    accepted = time.monotonic()
                    assert status == 202, body
                    liked = not liked
                    await asyncio.wait_for(everyone.wait(), 60)
                    latencies += [(t - accepted) * 1000 for t in arrivals]
                    lasts.append((max(arrivals) - accepted) * 1000)
                    for _ in range(100):  # the plain consumer has it too, by now or soon
                        if on_kafka:
                            break
                        await asyncio.sleep(0.01)
                    kafka.append((on_kafka[0] - accepted) * 1000)
                    fanout += [(t - on_kafka[0]) * 1000 for t in arrivals]
                    await asyncio.sleep(0.2)
                print(json.dumps({"latencies_ms": latencies, "last_ms": lasts,
                                  "kafka_ms": kafka, "fanout_ms": fanout}), flush=True)
        for task in readers:
            task.cancel()
        await consumer.stop()
        for stream in streams:
            stream.close()


# -- the benchmark


class _Client:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.live", "client", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, line: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"the subscribers' process ended (status {self.proc.wait()})")
        return answer.strip()

    def close(self) -> None:
        try:
            assert self.proc.stdin
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


async def _setup(edge_url: str) -> tuple[str, str]:
    async with aiohttp.ClientSession() as http:
        api = Api(http, edge_url)
        owner, fan = await api.register("Owner"), await api.register("Fan")
        picture = await api.published(owner, jpeg_with_gps(64, 48), title="Watched")
    return picture["picture_id"], fan.token


def _summary(figures: dict) -> dict:
    values = figures["latencies_ms"]
    return {"p50_ms": _percentile(values, 0.5), "p99_ms": _percentile(values, 0.99),
            "mean_ms": statistics.fmean(values),
            "last_p50_ms": _percentile(figures["last_ms"], 0.5),
            "last_max_ms": max(figures["last_ms"]), "deliveries": len(values),
            "on_kafka_p50_ms": _percentile(figures["kafka_ms"], 0.5),
            "fanout_p50_ms": _percentile(figures["fanout_ms"], 0.5),
            "fanout_p99_ms": _percentile(figures["fanout_ms"], 0.99)}


def main() -> dict:
    print(f"live updates, {SUBSCRIBERS} subscribers on one edge, {LIKES} likes — machine: "
          f"{machine()}", flush=True)
    with running(workers={"users": 1, "uploads": 1, "reactions": 1}, edges=1,
                 extra_env=ENV) as system:
        edge_pid = system.edges[0].pid
        assert edge_pid is not None
        picture_id, token = asyncio.run(_setup(system.edge_url))
        settings = system.settings
        client = _Client(system.edge_url, picture_id, token, settings.kafka_bootstrap,
                         PICTURE_LIKED.topic.name(settings.topic_prefix))
        try:
            time.sleep(1.0)
            idle_kib = _rss_kib(edge_pid)
            client.ask("open 1")
            one = _summary(json.loads(client.ask("likes")))
            client.ask(f"open {SUBSCRIBERS}")
            connected_kib = _rss_kib(edge_pid)
            many = _summary(json.loads(client.ask("likes")))
            after_kib = _rss_kib(edge_pid)
        finally:
            client.close()
    per_connection = (after_kib - idle_kib) / SUBSCRIBERS
    result = {"one": one, "many": many, "rss_idle_kib": idle_kib,
              "rss_connected_kib": connected_kib, "rss_after_likes_kib": after_kib,
              "kib_per_connection": per_connection}
    for name, f in (("1 subscriber (baseline)", one), (f"{SUBSCRIBERS} subscribers", many)):
        print(f"{name}: PictureLiked on Kafka p50 {f['on_kafka_p50_ms']:.1f} ms after the "
              f"202; from there to each subscriber p50 {f['fanout_p50_ms']:.1f} ms, p99 "
              f"{f['fanout_p99_ms']:.1f} ms", flush=True)
    print(f"1 subscriber (baseline): p50 {one['p50_ms']:.1f} ms, p99 {one['p99_ms']:.1f} ms "
          f"from the like's 202", flush=True)
    print(f"{SUBSCRIBERS} subscribers: p50 {many['p50_ms']:.1f} ms, p99 {many['p99_ms']:.1f} "
          f"ms ({many['deliveries']} deliveries); the last subscriber has it after "
          f"{many['last_p50_ms']:.1f} ms (median of {LIKES} likes, worst "
          f"{many['last_max_ms']:.1f} ms); p50 {many['p50_ms'] / max(one['p50_ms'], 0.1):.1f}x "
          "the single subscriber's", flush=True)
    print(f"edge RSS: {idle_kib / 1024:.1f} MiB idle, {connected_kib / 1024:.1f} MiB with "
          f"{SUBSCRIBERS} streams, {after_kib / 1024:.1f} MiB after the likes: "
          f"{per_connection:.1f} KiB per connection", flush=True)
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        _raise_fd_limit(4 * SUBSCRIBERS + 1024)
        asyncio.run(_subscribers(*sys.argv[2:7]))
    else:
        main()
