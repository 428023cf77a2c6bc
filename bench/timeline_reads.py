"""Benchmark: home timeline reads against the explore feed, in the same run and method.

On benchmark 1's catalogue of 10,000 published pictures, two signed-in readers:
- a reader whose timeline was fanned out on write (the pictures of 50 people they follow,
  2,500 entries in the ``timelines`` read model);
- a reader who also follows an account over TIMELINE_FANOUT_MAX_FOLLOWERS, whose pictures
  are merged in at read time (the timeline service's ``timeline_celebrities`` mark).
Each is read with ``GET /api/v1/me/timeline?limit=20`` by wrk (8 connections, one edge),
and so is the explore feed (``GET /api/v1/pictures?limit=20``), one after the other.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import urllib.request
from pathlib import Path

from motor.motor_asyncio import AsyncIOMotorClient

from agents.timeline.timelines import Timelines
from bench.feed import SECONDS, _seed
from bench.system import machine, running
from bench.wrk import WrkResult, wrk
from picasso.domains import DOMAINS
from picasso.mongo import PICTURES

FOLLOWED = 50
# Fewer than the feed benchmark's 64: at 64, no timeline read finished within 30 s on the
# local MongoDB-compatible server (docs/benchmarks.md). Every read here uses the same.
CONNECTIONS = 8


def _register(edge_url: str, name: str) -> tuple[str, str]:
    body = json.dumps({"email": f"{name}@bench.example.com", "password": "correct horse battery",
                       "display_name": name}).encode()
    request = urllib.request.Request(f"{edge_url}/api/v1/auth/register", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        doc = json.load(answer)
    return doc["user_id"], doc["id_token"]


async def _timelines(url: str, database: str, fanned: str, merging: str) -> None:
    db = AsyncIOMotorClient(url)[database]
    timelines = Timelines(db)
    await timelines.ensure_indexes()
    followed = [f"owner-{n}" for n in range(1, FOLLOWED + 1)]
    pictures = await db[PICTURES].find({"owner_id": {"$in": followed}},
                                       {"owner_id": 1, "created_at": 1}).to_list(None)
    await timelines.add([fanned, merging], pictures)
    await timelines.mark([merging], "owner-0")  # owner-0 is over the threshold


def _read(url: str, token: str | None) -> WrkResult:
    script = None
    if token:
        script = Path(tempfile.mkdtemp()) / "auth.lua"
        script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    # A long timeout: slow answers are measured, not dropped.
    wrk(url, connections=CONNECTIONS, seconds=2, script=script, timeout_s=30)  # warm-up
    return wrk(url, connections=CONNECTIONS, seconds=SECONDS, script=script, timeout_s=30)


def main() -> dict:
    print(f"benchmark, home timeline reads — machine: {machine()}", flush=True)
    with running(workers=dict.fromkeys(DOMAINS, 0), edges=1) as system:
        settings = system.settings
        asyncio.run(_seed(settings.mongodb_url, settings.mongodb_database))
        fanned, fanned_token = _register(system.edge_url, "fanned")
        merging, merging_token = _register(system.edge_url, "merging")
        asyncio.run(_timelines(settings.mongodb_url, settings.mongodb_database, fanned, merging))
        results = {
            "explore feed": _read(f"{system.edge_url}/api/v1/pictures?limit=20", None),
            # The cost of being signed in alone: the smallest signed-in read.
            "GET /api/v1/me": _read(f"{system.edge_url}/api/v1/me", fanned_token),
            "timeline, fanned out": _read(f"{system.edge_url}/api/v1/me/timeline?limit=20",
                                          fanned_token),
            "timeline, merging one account": _read(
                f"{system.edge_url}/api/v1/me/timeline?limit=20", merging_token),
        }
    feed = results["explore feed"].per_second
    for name, r in results.items():
        print(f"{name}: {r.per_second:,.0f} req/s p50 {r.p50_ms:.1f} ms p99 {r.p99_ms:.1f} ms "
              f"({r.errors} errors); {r.per_second / feed:.2f}x the feed", flush=True)
    return {name: {"per_s": r.per_second, "p99_ms": r.p99_ms, "errors": r.errors,
                   "ratio_to_feed": r.per_second / feed} for name, r in results.items()}


if __name__ == "__main__":
    main()
