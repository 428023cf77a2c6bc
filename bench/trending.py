"""Benchmark: trending, how fast the service applies likes and how fast the edge serves it.

- **Applying**: 20,000 ``PictureLiked`` events (500 of benchmark 1's pictures, 2,000 users,
  stamped over the last 30 minutes, so six buckets per picture) are put on
  ``picasso.reactions.events`` before the trending worker starts; events/s from the moment
  it is ready to the last batch it applied (``done_at`` of its last journal entry).
  Ceiling: a bare aiokafka consumer reading the same 20,000 messages off the broker. Then
  one ranking of every window (``Trending.refresh``, what the worker's timer does every
  ``TRENDING_REFRESH_S``) is timed.
- **Reading**: wrk (64 connections, 10 s after a 2 s warm-up, one edge) on
  ``GET /api/v1/pictures?sort=trending&limit=20`` (the day), the same for the hour, and the
  explore feed ``GET /api/v1/pictures?limit=20`` in the same run, anonymous.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import urllib.request
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from motor.motor_asyncio import AsyncIOMotorClient

from agents.trending.trending import Trending
from bench.feed import CONNECTIONS, SECONDS, _seed
from bench.system import machine, running
from bench.wrk import WrkResult, wrk
from picasso.domains import DOMAINS
from picasso.kafka import ensure_topics
from picasso.mongo import TRENDING, TRENDING_ACTIVITY, TRENDING_JOURNAL
from picasso.settings import Settings
from topics import REACTIONS_EVENTS
from topics.envelope import CloudEvent, utc_stamp
from topics.reactions import PICTURE_LIKED

EVENTS, PICTURES, USERS, SPREAD_S = 20_000, 500, 2_000, 30 * 60


async def _produce(settings: Settings) -> tuple[float, int]:
    """Put the likes on the broker; answers the seconds it took and how many different
    (picture, user) likes they are."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    topic = REACTIONS_EVENTS.name(settings.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                linger_ms=5)
    await producer.start()
    began = time.perf_counter()
    try:
        sent = []
        pairs = set()
        for _ in range(EVENTS):
            picture = f"{rng.randrange(PICTURES):08d}-bench"
            at = now - timedelta(seconds=rng.uniform(0, SPREAD_S))
            user = f"u{rng.randrange(USERS)}"
            pairs.add((picture, user))
            event = CloudEvent(type=PICTURE_LIKED.type, subject=picture, source="/bench",
                               time=utc_stamp(at), data={
                                   "picture_id": picture, "user_id": user, "like_count": 1})
            sent.append(await producer.send(topic, event.to_json(), key=picture.encode()))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return time.perf_counter() - began, len(pairs)


async def _bare_consume(settings: Settings) -> float:
    """Seconds a bare consumer takes to read every like off the broker."""
    consumer = AIOKafkaConsumer(REACTIONS_EVENTS.name(settings.topic_prefix),
                                bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None)
    await consumer.start()
    try:
        began = time.perf_counter()
        read = 0
        while read < EVENTS:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            read += sum(len(messages) for messages in batches.values())
        return time.perf_counter() - began
    finally:
        await consumer.stop()


async def _applied(settings: Settings, ready: datetime, likes: int,
                   timeout_s: float = 600) -> tuple[float, int]:
    """Once the worker applied every like (the ``likes`` different ones written, no journal
    entry open): events/s from the moment it was ready to its last batch, and how many
    batches."""
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    deadline = time.monotonic() + timeout_s
    while (await db[TRENDING_ACTIVITY].count_documents({}) < likes
           or await db[TRENDING_JOURNAL].count_documents({"open": True})):
        if time.monotonic() > deadline:
            raise SystemExit("the trending worker did not apply every like in time")
        await asyncio.sleep(0.5)
    stamps = sorted({datetime.fromisoformat(doc["done_at"]) async for doc in
                     db[TRENDING_JOURNAL].find({}, {"done_at": 1})})
    return EVENTS / (stamps[-1] - ready).total_seconds(), len(stamps)


async def _rankings(settings: Settings) -> tuple[float, int]:
    """The median time of one ranking of every window, and how many pictures the day has."""
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    trending = Trending(db)
    took = []
    for _ in range(5):
        began = time.perf_counter()
        await trending.refresh()
        took.append(time.perf_counter() - began)
    day = await db[TRENDING].find_one({"_id": "day"})
    return statistics.median(took), len(day["items"])


def _read(url: str) -> WrkResult:
    wrk(url, connections=CONNECTIONS, seconds=2)  # warm-up
    return wrk(url, connections=CONNECTIONS, seconds=SECONDS)


def main() -> dict:
    print(f"benchmark, trending — machine: {machine()}", flush=True)
    with running(workers=dict.fromkeys(DOMAINS, 0), edges=1) as system:
        settings = system.settings
        asyncio.run(_seed(settings.mongodb_url, settings.mongodb_database))
        asyncio.run(ensure_topics(settings))
        produced_s, likes = asyncio.run(_produce(settings))
        bare_s = asyncio.run(_bare_consume(settings))
        system.add_worker("trending")
        per_s, batches = asyncio.run(_applied(settings, datetime.now(UTC), likes))
        ranking_s, ranked = asyncio.run(_rankings(settings))
        base = f"{system.edge_url}/api/v1/pictures"
        with urllib.request.urlopen(f"{base}?sort=trending&limit=20") as answer:
            size = len(answer.read())
        results = {
            "explore feed": _read(f"{base}?limit=20"),
            "trending, day": _read(f"{base}?sort=trending&limit=20"),
            "trending, hour": _read(f"{base}?sort=trending&window=hour&limit=20"),
        }
    bare = EVENTS / bare_s
    print(f"applying likes: {per_s:,.0f} events/s in {batches} batches; a bare consumer "
          f"reads {bare:,.0f}/s ({per_s / bare:.2f}x); produced at {EVENTS / produced_s:,.0f}/s",
          flush=True)
    print(f"one ranking of both windows ({ranked} pictures): {ranking_s * 1000:.0f} ms",
          flush=True)
    feed = results["explore feed"].per_second
    for name, r in results.items():
        print(f"{name}: {r.per_second:,.0f} req/s p50 {r.p50_ms:.1f} ms p99 {r.p99_ms:.1f} ms "
              f"({r.errors} errors); {r.per_second / feed:.2f}x the feed", flush=True)
    print(f"(a trending page is {size:,} bytes)", flush=True)
    return {"applied_per_s": per_s, "bare_consume_per_s": bare, "batches": batches,
            "ranking_ms": ranking_s * 1000, "ranked": ranked,
            **{name: {"per_s": r.per_second, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                      "errors": r.errors, "ratio_to_feed": r.per_second / feed}
               for name, r in results.items()}}


if __name__ == "__main__":
    main()
