"""Benchmark: what 500 long-polling clients cost MongoDB.

500 clients wait (``GET /api/v1/pictures/{id}?wait_ms=10000``) on a picture that stays
processing, against one edge; the figure is the queries per second reaching MongoDB (the
edge's own ``picasso_long_poll_checks_total``, and MongoDB's ``serverStatus`` opcounters
when the server keeps them). The floor, measured in the same run against the same MongoDB:
the loop every waiting request ran on its own before waiters shared one (a query, then
again after 10 ms growing to every 100 ms), 500 of them.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Awaitable, Callable

import aiohttp
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo.errors import OperationFailure

from bench.system import machine, running
from picasso.mongo import PICTURES

WAITERS, SECONDS, WAIT_MS = 500, 8.0, 10_000
PICTURE_ID = "bench-long-poll"


async def _opcounters(db: AsyncIOMotorDatabase) -> int | None:
    """Queries and commands MongoDB has served, or None if it does not say."""
    try:
        status = await db.command("serverStatus")
    except OperationFailure:
        return None
    counters = status.get("opcounters") or {}
    if not counters:
        return None
    return int(counters.get("query", 0)) + int(counters.get("command", 0))


async def _checks(http: aiohttp.ClientSession, edge_url: str) -> int:
    async with http.get(f"{edge_url}/metrics") as answer:
        text = await answer.text()
    return int(float(re.search(r"^picasso_long_poll_checks_total (\S+)$", text, re.M).group(1)))


async def _measure(db: AsyncIOMotorDatabase, window: asyncio.Future,
                   own_count: Callable[[], Awaitable[int]]) -> tuple[float, float | None]:
    """Queries per second over ``SECONDS`` once the waiters are all waiting: by the count
    ``own_count`` gives, and by MongoDB's opcounters (None if it keeps none)."""
    await window
    ops_before, own_before, began = await _opcounters(db), await own_count(), time.monotonic()
    await asyncio.sleep(SECONDS)
    ops_after, own_after = await _opcounters(db), await own_count()
    elapsed = time.monotonic() - began
    by_server = ((ops_after - ops_before) / elapsed
                 if ops_before is not None and ops_after is not None else None)
    return (own_after - own_before) / elapsed, by_server


async def _through_the_edge(db: AsyncIOMotorDatabase, edge_url: str) -> dict:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        url = f"{edge_url}/api/v1/pictures/{PICTURE_ID}?wait_ms={WAIT_MS}"

        async def wait() -> int:
            async with http.get(url) as answer:
                await answer.read()
                return answer.status

        waiters = [asyncio.ensure_future(wait()) for _ in range(WAITERS)]
        settled = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(1.0, settled.set_result, None)  # all connected
        per_s, by_server = await _measure(db, settled, lambda: _checks(http, edge_url))
        statuses = await asyncio.gather(*waiters)
    return {"queries_per_s": per_s, "server_ops_per_s": by_server,
            "answers": {s: statuses.count(s) for s in set(statuses)}}


async def _one_loop_per_waiter(db: AsyncIOMotorDatabase) -> dict:
    """The floor: each waiter polling MongoDB on its own, as the edge did before."""
    queries = 0
    deadline = time.monotonic() + WAIT_MS / 1000

    async def wait() -> None:
        nonlocal queries
        delay = 0.01
        while time.monotonic() < deadline:
            queries += 1
            doc = await db[PICTURES].find_one({"_id": PICTURE_ID})
            if doc is not None and doc["status"] != "processing":
                return
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.1)

    async def count() -> int:
        return queries

    waiters = [asyncio.ensure_future(wait()) for _ in range(WAITERS)]
    settled = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(1.0, settled.set_result, None)
    per_s, by_server = await _measure(db, settled, count)
    await asyncio.gather(*waiters)
    return {"queries_per_s": per_s, "server_ops_per_s": by_server}


async def _run(mongodb_url: str, database: str, edge_url: str) -> dict:
    client = AsyncIOMotorClient(mongodb_url, maxPoolSize=100)
    db = client[database]
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    await db[PICTURES].insert_one({
        "_id": PICTURE_ID, "owner_id": "bench-owner", "title": "Still processing",
        "price_cents": 0, "currency": "usd", "tags": [], "status": "processing",
        "created_at": now})
    shared = await _through_the_edge(db, edge_url)
    naive = await _one_loop_per_waiter(db)
    client.close()
    return {"shared": shared, "one_loop_per_waiter": naive}


def main() -> dict:
    print(f"long polls, {WAITERS} waiters on one picture — machine: {machine()}", flush=True)
    with running(workers=0, edges=1) as system:
        settings = system.settings
        result = asyncio.run(_run(settings.mongodb_url, settings.mongodb_database,
                                  system.edge_url))
    shared, naive = result["shared"], result["one_loop_per_waiter"]

    def server(figures: dict) -> str:
        ops = figures["server_ops_per_s"]
        return f"{ops:,.0f} ops/s by serverStatus" if ops is not None else "no serverStatus"

    print(f"{WAITERS} waiters through the edge (one shared check): "
          f"{shared['queries_per_s']:,.1f} queries/s ({server(shared)}); answers "
          f"{shared['answers']}", flush=True)
    print(f"{WAITERS} waiters each polling on its own (the loop before): "
          f"{naive['queries_per_s']:,.0f} queries/s ({server(naive)}); "
          f"{naive['queries_per_s'] / max(shared['queries_per_s'], 0.1):,.0f}x the shared "
          "loop's", flush=True)
    return result


if __name__ == "__main__":
    main()
