"""Benchmark: home timeline reads against the explore feed, in the same run and method.

On benchmark 1's catalogue of 10,000 published pictures, made one a minute up to now (a
week of a small marketplace: pages are looked for in time windows back from now, so when
pictures were made matters; see ``web.readmodels.page_after``), two signed-in readers:
- a reader whose timeline was fanned out on write (the pictures of 50 people they follow,
  2,500 entries in the ``timelines`` read model);
- a reader who also follows an account over TIMELINE_FANOUT_MAX_FOLLOWERS, whose pictures
  are merged in at read time (the timeline service's ``timeline_celebrities`` mark and that
  account's ``timeline_recent`` document).
Each is read with ``GET /api/v1/me/timeline?limit=20`` by wrk (64 connections, one edge, as
the feed benchmark), and so is the explore feed (``GET /api/v1/pictures?limit=20``),
anonymous and signed in, one after the other; the feed's figure is the baseline. The same
timeline reads go to a second edge whose page cache is off (``FEED_CACHE_TTL_S=0``): every
read queries the store, what each reader's first read costs.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from motor.motor_asyncio import AsyncIOMotorClient

from agents.timeline.timelines import RECENT, Timelines
from bench.feed import CATALOGUE, SECONDS, _seed
from bench.system import machine, running
from bench.wrk import WrkResult, wrk
from deploy.local.processes import Edge
from deploy.local.stack import free_ports
from picasso.domains import DOMAINS
from picasso.mongo import PICTURES

FOLLOWED = 50
CONNECTIONS = 64  # the feed benchmark's


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
    star = await db[PICTURES].find({"owner_id": "owner-0"}, {"owner_id": 1, "created_at": 1}
                                   ).sort([("created_at", -1)]).to_list(RECENT)
    for picture in star:  # as the timeline service keeps it from the pictures events
        await timelines.remember_recent(picture)


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
        asyncio.run(_seed(settings.mongodb_url, settings.mongodb_database,
                          datetime.now(UTC) - timedelta(minutes=CATALOGUE), spacing_s=60))
        fanned, fanned_token = _register(system.edge_url, "fanned")
        merging, merging_token = _register(system.edge_url, "merging")
        asyncio.run(_timelines(settings.mongodb_url, settings.mongodb_database, fanned, merging))
        port = free_ports(["uncached"])["uncached"]
        uncached = Edge("edge-uncached", {**system.env, "EDGE_PORT": str(port),
                                          "FEED_CACHE_TTL_S": "0"},
                        Path(tempfile.mkdtemp()) / "edge-uncached.log")
        uncached.start()
        try:
            uncached.wait_ready(timeout=180)
            timeline = "/api/v1/me/timeline?limit=20"
            results = {
                "explore feed": _read(f"{system.edge_url}/api/v1/pictures?limit=20", None),
                "explore feed, signed in": _read(f"{system.edge_url}/api/v1/pictures?limit=20",
                                                 fanned_token),
                # The cost of being signed in alone: the smallest signed-in read.
                "GET /api/v1/me": _read(f"{system.edge_url}/api/v1/me", fanned_token),
                "timeline, fanned out": _read(system.edge_url + timeline, fanned_token),
                "timeline, merging one account": _read(system.edge_url + timeline,
                                                       merging_token),
                "timeline, fanned out, no page cache": _read(uncached.url + timeline,
                                                             fanned_token),
                "timeline, merging one account, no page cache": _read(uncached.url + timeline,
                                                                      merging_token),
            }
        finally:
            uncached.stop()
    feed = results["explore feed"].per_second
    for name, r in results.items():
        print(f"{name}: {r.per_second:,.0f} req/s p50 {r.p50_ms:.1f} ms p99 {r.p99_ms:.1f} ms "
              f"({r.errors} errors); {r.per_second / feed:.2f}x the feed", flush=True)
    return {name: {"per_s": r.per_second, "p99_ms": r.p99_ms, "errors": r.errors,
                   "ratio_to_feed": r.per_second / feed} for name, r in results.items()}


if __name__ == "__main__":
    main()
