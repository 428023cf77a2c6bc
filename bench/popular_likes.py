"""Benchmark: likes on a popular picture against likes on a fresh one (issue 17).

One reactions worker applies, in this order from one partition (so one after the other):
a warm-up on a picture of its own, then ``ROUNDS`` times ``PHASE_LIKES`` new likes of a fresh
picture and as many of a picture that already has ``POPULAR`` likes (inserted straight into
the reactions store before the worker starts), and a last fresh picture. Each phase's time
is the time between the result of the last command of the phase before it
(``command_results``) and that of the last of its own; the baseline is the fresh phases,
measured in the same run, alternating with the popular ones so that a machine whose load
drifts weighs on both. The target: the
popular picture's likes/s within 20% of the fresh ones'.

First, the batch handler alone (``bench/handler_rounds.py``): batches of likes of fresh
pictures and of the popular one, alternating, and with ``BENCH_BEFORE_TREE=<a checkout>``
(e.g. main's, before issue 17) the same through that checkout's handler, on the same store.
The worker stage is measured for this tree only: a worker of the old code takes a whole
phase in one or two batches of up to 2,000 (each reading the popular picture whole), so
phase boundaries would fall inside batches and its phases could not be timed apart.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase

from agents.reactions.likes import ensure_indexes
from bench.likes import _produce
from bench.system import System, machine, running
from deploy.local.processes import Worker
from picasso.kafka import ensure_topics
from picasso.mongo import COMMAND_RESULTS, LIKE_COUNTS, LIKES
from picasso.settings import Settings
from topics import REACTIONS_COMMANDS
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE

POPULAR = 200_000
PHASE_LIKES = 10_000
ROUNDS = 3
HANDLER_ROUNDS, HANDLER_BATCH = 5, 500
WARM_UP = 2_000
HOT = "popular-picture"
# One partition: the phases are consumed in the order they were produced.
EXTRA_ENV = {"PICASSO_TOPIC_PARTITIONS": "1"}


async def _populate(db: AsyncIOMotorDatabase) -> float:
    """``POPULAR`` likes of ``HOT`` and its count, as the agent would have left them."""
    began = time.monotonic()
    await ensure_indexes(db)
    chunk = 5_000

    async def insert(start: int) -> None:
        await db[LIKES].insert_many(
            [{"picture_id": HOT, "user_id": f"liker-{n:07d}", "liked_at": "2026-01-01T00:00:00Z"}
             for n in range(start, min(start + chunk, POPULAR))], ordered=False)

    starts = list(range(0, POPULAR, chunk))
    for at in range(0, len(starts), 4):
        await asyncio.gather(*(insert(s) for s in starts[at:at + 4]))
    await db[LIKE_COUNTS].update_one({"_id": HOT}, {"$set": {"like_count": POPULAR}},
                                     upsert=True)
    return time.monotonic() - began


def _likes(picture_id: str, n: int, run: str) -> list[CloudEvent]:
    """``n`` likes of ``picture_id`` by users who never liked it."""
    return [CloudEvent(type=LIKE_PICTURE.type, subject=picture_id, source="/bench",
                       data={"picture_id": picture_id, "user_id": f"fan-{run}-{i}"})
            for i in range(n)]


async def _applied_at(db: AsyncIOMotorDatabase, command_id: str, timeout_s: float) -> float:
    """When the command's result was written (waiting for it), as a Unix time."""
    deadline = time.monotonic() + timeout_s
    while True:
        doc = await db[COMMAND_RESULTS].find_one({"_id": command_id}, {"applied_at": 1})
        if doc is not None:
            return datetime.fromisoformat(doc["applied_at"]).timestamp()
        if time.monotonic() > deadline:
            raise SystemExit(f"command {command_id} not applied within {timeout_s:.0f} s")
        await asyncio.sleep(0.5)


def _phases(system: System, env: dict[str, str], likes: int, label: str,
            timeout_s: float) -> dict[str, list[float]]:
    """A warm-up, then ``ROUNDS`` rounds of a fresh picture and the popular one, and a last
    fresh picture, through one worker running with ``env``: the phases' likes/s by kind.
    Alternating, so that the machine's load drifting over the run weighs on both kinds."""
    settings = Settings.from_env(env)
    run = uuid.uuid4().hex[:6]
    phases: list[tuple[str, list[CloudEvent]]] = [("warm-up", _likes(f"warm-{run}", WARM_UP, run))]
    for n in range(ROUNDS):
        phases.append(("fresh", _likes(f"fresh-{n}-{run}", likes, f"{run}-{n}")))
        phases.append(("popular", _likes(HOT, likes, f"{run}-{n}")))
    phases.append(("fresh", _likes(f"fresh-{ROUNDS}-{run}", likes, f"{run}-{ROUNDS}")))

    async def produce() -> None:
        await ensure_topics(settings)
        await _produce(settings.kafka_bootstrap, REACTIONS_COMMANDS.name(settings.topic_prefix),
                       [c for _, commands in phases for c in commands])

    asyncio.run(produce())
    data = system.stack.data_dir
    worker = Worker(f"reactions-{label}", env, data / "logs" / f"reactions-{label}.log",
                    data / "faust" / f"reactions-{label}", "reactions")
    worker.start()  # its start-up is not timed: each phase ends at its last command
    try:
        async def ends() -> list[float]:
            db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
            return [await _applied_at(db, commands[-1].id, timeout_s)
                    for _, commands in phases]

        times = asyncio.run(ends())
    finally:
        worker.stop()
    rates: dict[str, list[float]] = {"fresh": [], "popular": []}
    for k in range(1, len(phases)):
        kind, commands = phases[k]
        rates[kind].append(len(commands) / max(times[k] - times[k - 1], 1e-3))
    return rates


def _report(label: str, rates: dict[str, list[float]]) -> dict:
    # Likes over time, per kind: the harmonic mean of equal-sized phases' rates.
    fresh, popular = (len(r) / sum(1 / x for x in r) for r in (rates["fresh"], rates["popular"]))
    ratio = popular / fresh
    shown = {kind: ", ".join(f"{x:,.0f}" for x in r) for kind, r in rates.items()}
    print(f"{label}: popular picture ({POPULAR:,} likes) {popular:,.0f} likes/s "
          f"({shown['popular']}); fresh pictures {fresh:,.0f} likes/s ({shown['fresh']}); "
          f"ratio {ratio:.2f}x (target 0.80x-1.20x)", flush=True)
    return {**rates, "fresh_per_s": fresh, "popular_per_s": popular, "ratio": ratio}


def _handler(settings: Settings, tree: str, label: str) -> dict:
    """``HANDLER_ROUNDS`` batches of ``HANDLER_BATCH`` likes of fresh pictures and as many of
    the popular one, alternating, straight through the batch handler of ``tree``'s code (in
    a process of its own); seconds per batch of each kind and their ratio."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("handler_rounds.py")),
         settings.mongodb_url, settings.mongodb_database, HOT, str(HANDLER_ROUNDS),
         str(HANDLER_BATCH)], env={**os.environ, "PYTHONPATH": tree}, capture_output=True,
        text=True, timeout=3600, check=True)
    seconds = json.loads(done.stdout.strip().splitlines()[-1])
    fresh, popular = (statistics.median(seconds[k]) for k in ("fresh", "popular"))
    ratio = fresh / popular  # of the rates
    print(f"batch handler alone, {label}, batches of {HANDLER_BATCH}: popular picture "
          f"{popular * 1000:,.0f} ms a batch ({HANDLER_BATCH / popular:,.0f} likes/s), fresh "
          f"pictures {fresh * 1000:,.0f} ms ({HANDLER_BATCH / fresh:,.0f} likes/s), median of "
          f"{HANDLER_ROUNDS}; ratio {ratio:.2f}x", flush=True)
    return {"seconds": seconds, "ratio": ratio}


def main() -> dict:
    print(f"popular picture likes — machine: {machine()}", flush=True)
    results = {}
    with running(workers=0, edges=0, services=("kafka", "mongodb", "mariadb"),
                 extra_env=EXTRA_ENV) as system:
        settings = system.settings
        took = asyncio.run(_populate(
            AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]))
        print(f"{POPULAR:,} likes of one picture inserted in {took:.0f} s", flush=True)
        before = os.environ.get("BENCH_BEFORE_TREE", "").strip()
        here = str(Path(__file__).resolve().parent.parent)
        results["handler_after"] = _handler(settings, here, "this tree")
        if before:
            results["handler_before"] = _handler(settings, before, before)
        results["after"] = _report(f"reactions stage, this tree, {PHASE_LIKES:,} likes a phase",
                                   _phases(system, system.env, PHASE_LIKES, "after", 600))
    return results


if __name__ == "__main__":
    main()
