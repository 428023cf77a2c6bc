"""Benchmark: an upload by an account with 10,000 followers, until it is in every
follower's home timeline.

The follow graph is written with the timeline service's own code (as 10,000 UserFollowed
events would leave it); each round then puts one PicturePublished for the account on Kafka,
as the uploads service does, and times, from the send, until 99% and until all of the
followers' timelines hold the picture (counted in the ``timelines`` read model). One
timeline worker; 10,000 is the default TIMELINE_FANOUT_MAX_FOLLOWERS, so it fans out.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time

from aiokafka import AIOKafkaProducer
from motor.motor_asyncio import AsyncIOMotorClient

from agents.timeline.follows import Follows, pair_key
from bench.system import machine, running
from picasso.domains import DOMAINS
from picasso.kafka import ensure_topics
from picasso.mongo import TIMELINES
from picasso.settings import Settings
from tests.integration.test_timeline import published
from topics import PICTURES_EVENTS
from topics.envelope import utc_now

FOLLOWERS, ROUNDS, STAR = 10_000, 10, "star"


async def _seed(follows: Follows) -> None:
    """The graph as :meth:`Follows.record` leaves it after each follow, written in bulk
    (one follow at a time takes minutes on the local MongoDB)."""
    now = utc_now()
    docs = [{"_id": pair_key(STAR, f"follower-{n}"), "followee_id": STAR,
             "follower_id": f"follower-{n}", "follows": True, "followee_id_at": now,
             "follower_id_at": now, "follows_at": now} for n in range(FOLLOWERS)]
    for start in range(0, FOLLOWERS, 1000):
        await follows.edges.insert_many(docs[start:start + 1000])


async def _measure(settings: Settings) -> list[tuple[float, float]]:
    await ensure_topics(settings)
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    follows = Follows(db)
    began = time.perf_counter()
    await _seed(follows)
    print(f"follow graph of {FOLLOWERS:,} written in {time.perf_counter() - began:.1f} s",
          flush=True)
    assert await follows.count(STAR) == FOLLOWERS
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    topic = PICTURES_EVENTS.name(settings.topic_prefix)
    times = []
    try:
        for n in range(ROUNDS + 1):  # the first round warms up
            event = published(f"bench-{n}", STAR)
            began = time.perf_counter()
            await producer.send_and_wait(topic, event.to_json(), key=event.subject.encode())
            most = None
            while True:
                count = await db[TIMELINES].count_documents({"picture_id": event.subject})
                if most is None and count >= FOLLOWERS * 0.99:
                    most = time.perf_counter() - began
                if count >= FOLLOWERS:
                    break
                await asyncio.sleep(0.01)
            if n:
                times.append((most, time.perf_counter() - began))
    finally:
        await producer.stop()
    return times


def main() -> dict:
    print(f"benchmark, timeline fan-out — machine: {machine()}", flush=True)
    with running(workers={**dict.fromkeys(DOMAINS, 0), "timeline": 1}, edges=0) as system:
        times = asyncio.run(_measure(system.settings))
    most = sorted(t[0] for t in times)
    every = sorted(t[1] for t in times)
    p99 = every[math.ceil(0.99 * len(every)) - 1]  # nearest rank: the worst of 10 rounds
    print(f"upload by an account with {FOLLOWERS:,} followers, {ROUNDS} rounds, one timeline "
          f"worker: in 99% of timelines after median {statistics.median(most):.2f} s; in "
          f"every timeline after median {statistics.median(every):.2f} s, p99 {p99:.2f} s "
          f"({FOLLOWERS / statistics.median(every):,.0f} timeline writes/s)", flush=True)
    return {"followers": FOLLOWERS, "p99_of_followers_median_s": statistics.median(most),
            "all_followers_median_s": statistics.median(every), "all_followers_p99_s": p99}


if __name__ == "__main__":
    main()
