"""Benchmark 13: likes under overload, with the edge's backpressure (web.backlog) on and off.

The system ``make run`` starts by default (one worker per service, two edges on one port)
with ``BACKLOG_MAX_AGE_S`` at its default. First its capacity: 64 clients like as fast as
the edges answer for a while; the likes accepted per second, with backpressure on, are what
the reactions service applies. Then an open-loop load (a like starts every 1/rate seconds,
whatever the answers: new users do not wait for old ones) at 1x, 2x and 4x that capacity;
for each level: accepted/s, refused/s (503 with Retry-After) and, for a probe like every
100 ms, the time from its 202 to its ``applied_at`` in the public ``command_results`` read
model. The baseline, in the same run: the 2x level again on a third edge with backpressure
off, which accepts everything and lets the delay grow. Each level waits for the backlog to
drain before the next.

``make bench`` draws the overload curve and the latency distribution as PNG charts into
docs/images/ (matplotlib), shown by docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
from motor.motor_asyncio import AsyncIOMotorClient

from bench.system import System, machine, running
from deploy.local.processes import Edge
from deploy.local.stack import free_ports
from picasso.mongo import COMMAND_RESULTS
from tests.helpers import Api, User, jpeg_with_gps

USERS, PICTURES = 200, 40
CAPACITY_SECONDS, LEVEL_SECONDS, CLIENTS = 8, 10, 64
LEVELS = (1, 2, 4)
BASELINE_LEVEL = 2
PROBE_EVERY_S = 0.1
MAX_IN_FLIGHT = 4000  # the load generator's own bound: past it an arrival is counted unsent
CHARTS = Path(__file__).resolve().parents[1] / "docs" / "images"


@dataclass
class Level:
    name: str
    offered_per_s: float
    seconds: float
    accepted: int = 0
    refused: int = 0
    other: int = 0  # neither 202 nor 503 (errors, timeouts)
    unsent: int = 0
    retry_after: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict:
        lat = sorted(self.latencies_ms)
        return {
            "offered_per_s": round(self.offered_per_s),
            "accepted_per_s": round(self.accepted / self.seconds),
            "refused_per_s": round(self.refused / self.seconds),
            "other": self.other, "unsent": self.unsent,
            "probes": len(lat),
            "p50_ms": round(_percentile(lat, 0.50)) if lat else None,
            "p99_ms": round(_percentile(lat, 0.99)) if lat else None,
            "retry_after_s": statistics.median(self.retry_after) if self.retry_after else None,
        }


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _population(api: Api) -> tuple[list[User], list[str], str]:
    gate = asyncio.Semaphore(16)

    async def register(n: int) -> User:
        async with gate:
            return await api.register(f"Fan{n}")

    users = await asyncio.gather(*(register(n) for n in range(USERS)))
    owner = await api.register("Owner")
    image = jpeg_with_gps(64, 48)
    pictures = [(await api.published(owner, image, title=f"Picture {n}"))["picture_id"]
                for n in range(PICTURES + 1)]
    return list(users), pictures[:PICTURES], pictures[-1]


async def _like(http: aiohttp.ClientSession, url: str, user: User, picture: str,
                level: Level) -> str | None:
    """One like; its command id when accepted."""
    try:
        async with http.put(f"{url}/api/v1/pictures/{picture}/like", headers=user.auth,
                            timeout=aiohttp.ClientTimeout(total=30)) as answer:
            body = await answer.json(content_type=None)
            if answer.status == 202:
                level.accepted += 1
                return body["command_id"]
            if answer.status == 503 and "behind" in body.get("detail", ""):
                level.refused += 1
                level.retry_after.append(int(answer.headers.get("Retry-After", "0")))
            else:
                level.other += 1
    except (TimeoutError, aiohttp.ClientError):
        level.other += 1
    return None


async def _probes(http: aiohttp.ClientSession, url: str, users: list[User], picture: str,
                  level: Level, until: float) -> dict[str, float]:
    """A like on the probe picture every PROBE_EVERY_S: command id -> wall time of its 202."""
    accepted: dict[str, float] = {}
    while time.monotonic() < until:
        command = await _like(http, url, random.choice(users), picture, level)
        if command is not None:
            accepted[command] = time.time()
        await asyncio.sleep(PROBE_EVERY_S)
    return accepted


async def _applied(system: System, accepted: dict[str, float], level: Level,
                   timeout_s: float = 300) -> None:
    """Wait until every probe is applied; its latency is applied_at less its 202."""
    db = AsyncIOMotorClient(system.settings.mongodb_url)[system.settings.mongodb_database]
    waiting = dict(accepted)
    deadline = time.monotonic() + timeout_s
    while waiting and time.monotonic() < deadline:
        ids = list(waiting)
        for start in range(0, len(ids), 50):  # long $in lists are slow on the local server
            async for doc in db[COMMAND_RESULTS].find({"_id": {"$in": ids[start:start + 50]}},
                                                      {"applied_at": 1}):
                applied = datetime.fromisoformat(doc["applied_at"]).timestamp()
                level.latencies_ms.append(max(0.0, applied - waiting.pop(doc["_id"])) * 1000)
        await asyncio.sleep(0.25)
    if waiting:
        raise SystemExit(f"{len(waiting)} accepted probe likes not applied in {timeout_s} s")


async def _closed_loop(url: str, users: list[User], pictures: list[str],
                       seconds: float) -> Level:
    level = Level("capacity", 0, seconds)
    until = time.monotonic() + seconds

    async def client(http: aiohttp.ClientSession) -> None:
        while time.monotonic() < until:
            await _like(http, url, random.choice(users), random.choice(pictures), level)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
    level.offered_per_s = (level.accepted + level.refused + level.other) / seconds
    return level


async def _open_loop(system: System, url: str, name: str, rate: float, users: list[User],
                     pictures: list[str], probe_picture: str) -> Level:
    level = Level(name, rate, LEVEL_SECONDS)
    began = time.monotonic()
    until = began + LEVEL_SECONDS
    in_flight: set[asyncio.Task] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        probes = asyncio.ensure_future(_probes(http, url, users, probe_picture, level, until))
        due = 0
        while (now := time.monotonic()) < until:
            want = int((now - began) * rate)
            for _ in range(want - due):
                if len(in_flight) >= MAX_IN_FLIGHT:
                    level.unsent += 1
                    continue
                task = asyncio.ensure_future(_like(http, url, random.choice(users),
                                                   random.choice(pictures), level))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            due = want
            await asyncio.sleep(0.005)
        accepted = await probes
        await asyncio.gather(*in_flight)
    await _applied(system, accepted, level)
    return level


def _charts(levels: list[Level], baseline: Level, capacity: float) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    CHARTS.mkdir(parents=True, exist_ok=True)
    offered = [lv.offered_per_s for lv in levels]
    figure, left = pyplot.subplots(figsize=(7, 4.2), dpi=110)
    left.plot(offered, [lv.accepted / lv.seconds for lv in levels], "o-", label="accepted/s")
    left.plot(offered, [lv.refused / lv.seconds for lv in levels], "s-", label="refused/s (503)")
    left.plot([baseline.offered_per_s], [baseline.accepted / baseline.seconds], "x",
              markersize=10, label="accepted/s, backpressure off")
    left.axvline(capacity, color="grey", linestyle=":", label="measured capacity")
    left.set_xlabel("offered likes/s (open loop)")
    left.set_ylabel("likes/s")
    right = left.twinx()
    p99 = [(_percentile(sorted(lv.latencies_ms), 0.99) / 1000) if lv.latencies_ms else None
           for lv in levels]
    right.plot(offered, p99, "d--", color="tab:red", label="p99 202 → applied (s)")
    if baseline.latencies_ms:
        right.plot([baseline.offered_per_s],
                   [_percentile(sorted(baseline.latencies_ms), 0.99) / 1000], "d",
                   color="darkred", markersize=9, label="p99, backpressure off (s)")
    right.set_ylabel("seconds")
    lines = left.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    left.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    left.set_title("Likes under overload (BENCH=overload make bench)")
    figure.tight_layout()
    curve = CHARTS / "overload.png"
    figure.savefig(curve)
    pyplot.close(figure)

    figure, axes = pyplot.subplots(figsize=(7, 4.2), dpi=110)
    for lv in [*levels, baseline]:
        if lv.latencies_ms:
            ordered = sorted(lv.latencies_ms)
            share = [(i + 1) / len(ordered) for i in range(len(ordered))]
            axes.step([ms / 1000 for ms in ordered], share, where="post", label=lv.name)
    axes.set_xscale("log")
    axes.set_xlabel("202 → applied, seconds (log)")
    axes.set_ylabel("share of probe likes")
    axes.axvline(1.0, color="grey", linestyle=":")
    axes.legend(fontsize=8)
    axes.set_title("Like latency distribution by offered load")
    figure.tight_layout()
    spread = CHARTS / "likes_latency.png"
    figure.savefig(spread)
    pyplot.close(figure)
    return [curve, spread]


def _extra_edge(system: System, settings: dict[str, str]) -> Edge:
    port = free_ports(["edge"])["edge"]
    edge = Edge("edge-no-backpressure", {**system.edge_env, **settings, "EDGE_PORT": str(port)},
                system.stack.data_dir / "logs" / "edge-no-backpressure.log")
    edge.start()
    edge.wait_ready(timeout=180)
    system.edges.append(edge)  # stopped with the system
    return edge


async def _run(system: System) -> dict:
    async with aiohttp.ClientSession() as http:
        users, pictures, probe_picture = await _population(Api(http, system.edge_url))
    capacity = await _closed_loop(system.edge_url, users, pictures, CAPACITY_SECONDS)
    per_s = capacity.accepted / capacity.seconds
    print(f"capacity (closed loop, {CLIENTS} clients, backpressure on): {per_s:.0f} accepted/s, "
          f"{capacity.refused / capacity.seconds:.0f} refused/s", flush=True)
    await asyncio.sleep(5)  # its backlog drains
    levels = []
    for times in LEVELS:
        level = await _open_loop(system, system.edge_url, f"{times}x", times * per_s, users,
                                 pictures, probe_picture)
        levels.append(level)
        print(f"{level.name}: {level.figures()}", flush=True)
    plain = _extra_edge(system, {"BACKLOG_MAX_AGE_S": "0"})
    baseline = await _open_loop(system, plain.url, f"{BASELINE_LEVEL}x, backpressure off",
                                BASELINE_LEVEL * per_s, users, pictures, probe_picture)
    print(f"baseline {baseline.name}: {baseline.figures()}", flush=True)
    charts = _charts(levels, baseline, per_s)
    print("charts: " + ", ".join(str(path) for path in charts), flush=True)
    return {"machine": machine(), "capacity_per_s": round(per_s),
            "levels": {lv.name: lv.figures() for lv in levels},
            "baseline": baseline.figures(), "charts": [str(p) for p in charts]}


def main() -> dict:
    with running(workers=1, edges=2) as system:
        return asyncio.run(_run(system))
