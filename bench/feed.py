"""Benchmark 1: feed reads on a catalogue of 10,000 published pictures.

``GET /api/v1/pictures?limit=20`` with 64 connections from wrk, against the floor: a bare
aiohttp handler (its own process, one core like one edge) returning the same bytes.

The catalogue is written straight into the pictures read model (as the uploads agent would
leave it after 10,000 uploads), with likes on some pictures: pushing 10,000 images through
the pipeline would measure the pipeline, which benchmark 3 does.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta

from motor.motor_asyncio import AsyncIOMotorClient

from bench.system import machine, running
from bench.wrk import wrk
from deploy.local.stack import free_ports
from picasso.mongo import LIKE_COUNTS, PICTURES, USERS

CATALOGUE, OWNERS, CONNECTIONS, SECONDS = 10_000, 200, 64, 10

_FLOOR = """
import sys
from aiohttp import web
body = open(sys.argv[1], "rb").read()
async def feed(request):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/api/v1/pictures", feed)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
"""


async def _seed(url: str, database: str, start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
                spacing_s: float = 1.0) -> None:
    """The catalogue: ``CATALOGUE`` published pictures by ``OWNERS`` owners, one every
    ``spacing_s`` seconds from ``start``."""
    db = AsyncIOMotorClient(url)[database]
    await db[USERS].insert_many([{"_id": f"owner-{n}", "email": f"owner{n}@example.com",
                                  "display_name": f"Owner {n}"} for n in range(OWNERS)])
    docs = []
    for n in range(CATALOGUE):
        picture_id = f"{n:08d}-bench"
        docs.append({
            "_id": picture_id, "owner_id": f"owner-{n % OWNERS}", "title": f"Picture {n}",
            "description": "A picture of the benchmark catalogue.", "price_cents": 500 + n % 7,
            "currency": "usd", "tags": ["bench", f"t{n % 10}"], "status": "published",
            "width": 1280, "height": 960, "original_key": f"originals/{picture_id}",
            "thumbnail_key": f"public/{picture_id}/thumb.jpg",
            "preview_key": f"public/{picture_id}/preview.jpg",
            "created_at": (start + timedelta(seconds=n * spacing_s)).isoformat().replace(
                "+00:00", "Z"),
        })
    for chunk in range(0, len(docs), 1000):
        await db[PICTURES].insert_many(docs[chunk:chunk + 1000])
    await db[LIKE_COUNTS].insert_many([{"_id": d["_id"], "like_count": n % 50}
                                       for n, d in enumerate(docs) if n % 3 == 0])


def main() -> dict:
    print(f"benchmark 1, feed reads — machine: {machine()}", flush=True)
    with running(workers=1, edges=1) as system:
        settings = system.settings
        asyncio.run(_seed(settings.mongodb_url, settings.mongodb_database))
        url = f"{system.edge_url}/api/v1/pictures?limit=20"
        with urllib.request.urlopen(url) as answer:
            body = answer.read()
        path = system.stack.data_dir / "feed.json"
        path.write_bytes(body)
        port = free_ports(["floor"])["floor"]
        floor = subprocess.Popen([sys.executable, "-c", _FLOOR, str(path), str(port)])
        try:
            floor_url = f"http://127.0.0.1:{port}/api/v1/pictures?limit=20"
            for _ in range(100):
                try:
                    urllib.request.urlopen(floor_url).read()
                    break
                except OSError:
                    time.sleep(0.1)
            wrk(url, connections=CONNECTIONS, seconds=2)  # warm-up
            picasso = wrk(url, connections=CONNECTIONS, seconds=SECONDS)
            bare = wrk(floor_url, connections=CONNECTIONS, seconds=SECONDS)
        finally:
            floor.terminate()
            floor.wait()
    ratio = picasso.per_second / bare.per_second
    print(f"feed reads ({len(body):,} bytes/answer, {CONNECTIONS} connections, one edge): "
          f"picasso {picasso.per_second:,.0f} req/s p50 {picasso.p50_ms:.1f} ms "
          f"p99 {picasso.p99_ms:.1f} ms ({picasso.errors} errors); floor "
          f"{bare.per_second:,.0f} req/s p99 {bare.p99_ms:.1f} ms; ratio {ratio:.2f}x "
          f"(target >= 0.5x, p99 <= 50 ms)", flush=True)
    return {"picasso_per_s": picasso.per_second, "picasso_p99_ms": picasso.p99_ms,
            "floor_per_s": bare.per_second, "floor_p99_ms": bare.p99_ms, "ratio": ratio,
            "errors": picasso.errors}


if __name__ == "__main__":
    main()
