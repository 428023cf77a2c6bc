"""Benchmark 2: likes end to end over HTTP, and the reactions agent against a raw loop.

- Over HTTP: wrk sends ``PUT /pictures/{id}/like`` from many users on many pictures for a
  while; meanwhile a probe likes one more picture every 100 ms as a new user and polls the
  picture until ``like_count`` shows it (202 → visible). After the load, every accepted like
  must be applied (each command has its result in ``command_results``); the drain time is
  reported.
- The agent stage alone: the same likes put on the commands topic before a worker starts,
  then applied by the worker, against a raw aiokafka consume → same MongoDB writes loop
  (per batch: a lookup of its own (picture, user) pairs, a bulk insert of the new likes, one
  ``$inc`` per picture) over the same messages.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import statistics
import time
from datetime import datetime
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import UpdateOne

from agents.reactions.likes import _states, ensure_indexes
from bench.system import System, machine, running
from bench.wrk import random_script, wrk
from picasso.domains import DOMAINS
from picasso.kafka import ensure_topics
from picasso.mongo import COMMAND_RESULTS, LIKE_COUNTS, LIKES
from tests.helpers import Api, User, jpeg_with_gps
from topics import REACTIONS_COMMANDS
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE

USERS, PICTURES, PROBES = 200, 40, 400
LOAD_SECONDS, CONNECTIONS = 8, 64
STAGE_COMMANDS = 20_000
WORKER_COUNTS = (1, 2, 4)  # reactions workers over HTTP: the scaling from one


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _population(system: System) -> tuple[list[User], list[str], list[User], str]:
    async with aiohttp.ClientSession() as http:
        api = Api(http, system.edge_url)
        gate = asyncio.Semaphore(16)

        async def register(n: int) -> User:
            async with gate:
                return await api.register(f"Fan{n}")

        users = await asyncio.gather(*(register(n) for n in range(USERS + PROBES)))
        owner = await api.register("Owner")
        image = jpeg_with_gps(64, 48)
        pictures = [(await api.published(owner, image, title=f"Picture {n}"))["picture_id"]
                    for n in range(PICTURES + 1)]
    return list(users[:USERS]), pictures[:PICTURES], list(users[USERS:]), pictures[-1]


def _script(users: list[User], pictures: list[str]) -> Path:
    """wrk's Lua script: each request a like by a random user of a random picture."""
    return random_script("likes", {"tokens": [u.token for u in users], "pictures": pictures}, """
  local token = tokens[math.random(#tokens)]
  local picture = pictures[math.random(#pictures)]
  return wrk.format("PUT", "/api/v1/pictures/" .. picture .. "/like",
                    {["Authorization"] = "Bearer " .. token})""")


async def _probe(system: System, probes: list[User], picture: str, until: float) -> list[float]:
    """202 → visible, for one more like every 100 ms.

    A like is visible once the reactions agent wrote its command's result (``applied_at`` in
    ``command_results``), which it does after writing the picture's ``like_count``. One query every
    20 ms looks for the probes still outstanding, so watching costs the database little
    (waiting on each like through the API put hundreds of polling readers on it and slowed
    what it measured); the latency is ``applied_at`` less the wall-clock time of the 202, so
    the watcher's own delay does not count."""
    db = AsyncIOMotorClient(system.settings.mongodb_url)[system.settings.mongodb_database]
    accepted: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not (done.is_set() and not accepted):
            if accepted:
                seen = db[COMMAND_RESULTS].find({"_id": {"$in": list(accepted)}},
                                                {"applied_at": 1})
                async for doc in seen:
                    applied = datetime.fromisoformat(doc["applied_at"]).timestamp()
                    latencies.append(max(0.0, applied - accepted.pop(doc["_id"])) * 1000)
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    async with aiohttp.ClientSession() as http:
        api = Api(http, system.edge_url)
        for user in probes:
            if time.monotonic() > until:
                break
            status, body, _ = await api.call("PUT", f"/api/v1/pictures/{picture}/like",
                                             user=user)
            # Refused while the service is behind (backpressure): not accepted, not timed.
            assert status in (202, 503), body
            if status == 202:
                accepted[body["command_id"]] = time.time()
            await asyncio.sleep(0.1)
    done.set()
    await asyncio.wait_for(watcher, 240)
    return latencies


def _results(system: System):
    """The public ``command_results`` read model: one document per applied command."""
    db = AsyncIOMotorClient(system.settings.mongodb_url)[system.settings.mongodb_database]
    return db[COMMAND_RESULTS]


async def _drained(system: System, expected: int, before: int,
                   timeout_s: float = 240.0) -> float:
    """Seconds until ``expected`` more commands than ``before`` have a result."""
    results = _results(system)
    began = time.monotonic()
    while await results.estimated_document_count() < before + expected:
        if time.monotonic() - began > timeout_s:
            raise SystemExit("likes were accepted but not applied within the timeout")
        await asyncio.sleep(0.25)
    return time.monotonic() - began


def http_likes(workers: int, edges: int = 2) -> dict:
    """Accepted likes/s over HTTP and 202 → visible latency, with ``workers`` workers."""
    # ``workers`` workers of the reactions service, which applies the likes; one of the rest.
    with running(workers={**dict.fromkeys(DOMAINS, 1), "reactions": workers},
                 edges=edges) as system:
        users, pictures, probes, probe_picture = asyncio.run(_population(system))
        script = _script(users, pictures)

        async def load() -> tuple:
            # The population's own commands (sign-ups, uploads) have their results already.
            before = await _results(system).estimated_document_count()
            until = time.monotonic() + LOAD_SECONDS
            probe = asyncio.create_task(_probe(system, probes, probe_picture, until))
            result = await asyncio.to_thread(
                wrk, f"{system.edge_url}/", connections=CONNECTIONS, seconds=LOAD_SECONDS,
                script=script)
            # The backlog is timed from the end of the load, while the probes finish.
            # wrk's likes (the probes' own, applied meanwhile, only make this come sooner
            # by a fraction of a second)
            accepted = result.requests - result.errors
            drain, latencies = await asyncio.gather(_drained(system, accepted, before), probe)
            return result, latencies, drain

        result, latencies, drain = asyncio.run(load())
    # With backpressure on (the default), what the edges refuse while the service is behind
    # is answered 503 at once: wrk counts those among its non-2xx answers.
    accepted = result.requests - result.errors
    figures = {
        "workers": workers, "edges": edges,
        "accepted_per_s": accepted / LOAD_SECONDS,
        "refused_per_s": result.errors / LOAD_SECONDS,
        "http_p99_ms": result.p99_ms,
        "visible_p50_ms": statistics.median(latencies),
        "visible_p99_ms": _percentile(latencies, 0.99), "probes": len(latencies),
        "drain_after_load_s": drain,
        # Every accepted like applied: over the load and the drain after it.
        "applied_per_s": accepted / (LOAD_SECONDS + drain),
    }
    print(f"likes over HTTP, {workers} worker(s), {edges} edge(s): "
          f"{figures['accepted_per_s']:,.0f} accepted/s, {figures['refused_per_s']:,.0f} "
          f"refused or failed/s (answers' p99 {result.p99_ms:.0f} ms); 202 → visible p50 "
          f"{figures['visible_p50_ms']:.0f} ms, p99 {figures['visible_p99_ms']:.0f} ms over "
          f"{len(latencies)} probes; backlog drained {drain:.1f} s after the load, so "
          f"{figures['applied_per_s']:,.0f} applied/s "
          f"(target >= 2,000/s, p99 <= 1 s)", flush=True)
    return figures


def _commands(n: int) -> list[CloudEvent]:
    rng = random.Random(11)
    return [CloudEvent(type=LIKE_PICTURE.type, subject=f"pic-{rng.randrange(PICTURES)}",
                       source="/bench",
                       data={"picture_id": f"pic-{rng.randrange(PICTURES)}",
                             "user_id": f"user-{rng.randrange(5_000)}"})
            for _ in range(n)]


async def _produce(bootstrap: str, topic: str, commands: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=10)
    await producer.start()
    try:
        futures = [await producer.send(topic, c.to_json(), key=c.data["picture_id"].encode())
                   for c in commands]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _rate_of(count, total: int, timeout_s: float = 300.0) -> float:
    """Messages per second from the first applied to the last (start-up excluded)."""
    began = time.monotonic()
    first_at, first_count = None, 0
    while True:
        done = await count()
        now = time.monotonic()
        if first_at is None and done > 0:
            first_at, first_count = now, done
        if done >= total:
            break
        if now - began > timeout_s:
            raise SystemExit(f"only {done} of {total} applied within {timeout_s:.0f} s")
        await asyncio.sleep(0.25)  # counting costs the database too: not too often
    elapsed = max(now - first_at, 1e-3)
    return (total - first_count) / elapsed if total > first_count else float("nan")


async def _raw_loop(bootstrap: str, topic: str, db, total: int) -> float:
    """The floor: consume, parse, and the writes the agent makes per batch, without its
    inbox, claims, versions and events: look up the batch's own (picture, user) pairs, insert the
    new likes, one ``$inc`` per picture by its new likes."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_poll_records=500)
    await consumer.start()
    applied, first_at = 0, None
    try:
        while applied < total:
            batches = await consumer.getmany(timeout_ms=20, max_records=500)
            # One batch across partitions, as the agent takes them.
            messages = [m for part in batches.values() for m in part]
            if messages:
                docs = [json.loads(m.value)["data"] for m in messages]
                pairs = {(d["picture_id"], d["user_id"]) for d in docs}
                states = await _states(db, list(pairs))  # the agent's own lookup
                new = {pair for pair in pairs if not states.get(pair, (False, ""))[0]}
                if new:
                    await db[LIKES].bulk_write([
                        UpdateOne({"picture_id": p, "user_id": u},
                                  {"$setOnInsert": {"liked_at": "x"}}, upsert=True)
                        for p, u in new], ordered=False)
                    added = collections.Counter(p for p, _ in new)
                    await db[LIKE_COUNTS].bulk_write(
                        [UpdateOne({"_id": p}, {"$inc": {"like_count": n}}, upsert=True)
                         for p, n in added.items()], ordered=False)
                if first_at is None:
                    first_at, first_count = time.monotonic(), len(docs)
                applied += len(docs)
    finally:
        await consumer.stop()
    return (total - first_count) / (time.monotonic() - first_at)


def agent_stage() -> dict:
    commands = _commands(STAGE_COMMANDS)
    with running(workers=0, edges=1) as system:
        settings = system.settings
        topic = REACTIONS_COMMANDS.name(settings.topic_prefix)

        async def prepare() -> None:
            await ensure_topics(settings)
            await _produce(settings.kafka_bootstrap, topic, commands)

        asyncio.run(prepare())

        async def raw_rate() -> float:
            db = AsyncIOMotorClient(settings.mongodb_url)["raw_floor"]
            await ensure_indexes(db)  # the same collections, indexed the same way
            return await _raw_loop(settings.kafka_bootstrap, topic, db, len(commands))

        raw = asyncio.run(raw_rate())
        system.add_worker("reactions")

        async def agent_rate() -> float:
            db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
            # Only the reactions worker runs: every result is one of its commands.
            return await _rate_of(lambda: db[COMMAND_RESULTS].estimated_document_count(),
                                  len(commands))

        agent = asyncio.run(agent_rate())
    ratio = agent / raw
    print(f"reactions agent stage: {agent:,.0f} likes/s; raw aiokafka → MongoDB loop "
          f"{raw:,.0f} likes/s; ratio {ratio:.2f}x over {len(commands):,} commands "
          f"(target >= 0.5x)", flush=True)
    return {"agent_per_s": agent, "raw_per_s": raw, "ratio": ratio}


def main() -> dict:
    print(f"benchmark 2, likes — machine: {machine()}", flush=True)
    stage = agent_stage()
    runs = {n: http_likes(workers=n) for n in WORKER_COUNTS}
    one = runs[WORKER_COUNTS[0]]
    for n, run in runs.items():
        print(f"likes over HTTP, {n} worker(s) vs {WORKER_COUNTS[0]}: "
              f"{run['applied_per_s'] / one['applied_per_s']:.2f}x applied/s, "
              f"{run['accepted_per_s'] / one['accepted_per_s']:.2f}x accepted/s", flush=True)
    return {"stage": stage, "workers": runs,
            "scaling": {n: run["applied_per_s"] / one["applied_per_s"]
                        for n, run in runs.items()}}


if __name__ == "__main__":
    main()
