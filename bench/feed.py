"""Benchmark 1: feed reads on a catalogue of 10,000 published pictures.

``GET /api/v1/pictures?limit=20`` with 64 connections from wrk, against the floor: a bare
aiohttp handler (its own process, one core like one edge) returning the same bytes. Read
twice: anonymous, and signed in as ``READERS`` different readers (wrk's Lua script sends a
random reader's ``Authorization: Bearer`` ID token, from the Firebase emulator, per request),
each with likes and a purchase among the page's pictures, so every answer carries that
reader's own ``liked_by_me`` and ``purchased_by_me`` marks. The reads and the floor are
taken in turn, a few rounds each (``ROUNDS``), and compared over the same minutes.

The catalogue is written straight into the pictures read model (as the uploads agent would
leave it after 10,000 uploads), with likes on some pictures: pushing 10,000 images through
the pipeline would measure the pipeline, which benchmark 3 does.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from motor.motor_asyncio import AsyncIOMotorClient

from agents.purchases.views import PurchaseViews
from agents.reactions.likes import ensure_indexes as likes_indexes
from agents.uploads.pictures import ensure_indexes as pictures_indexes
from bench.system import cpu_seconds, machine, running, wait_answering
from bench.wrk import WrkResult, random_script, wrk
from deploy.local.stack import free_ports
from picasso.domains import DOMAINS
from picasso.mongo import LIKE_COUNTS, LIKES, PICTURES, PURCHASES, USERS
from picasso.settings import Settings

CATALOGUE, OWNERS, CONNECTIONS, SECONDS = 10_000, 200, 64, 10
# The four reads (anonymous, signed in, the floor, the floor with the readers' script) are
# taken in turn, ROUNDS times ROUND_SECONDS each, so that a change in the machine's load
# (2 cores shared with other work) falls on all of them alike.
ROUNDS, ROUND_SECONDS = 3, 5
# Signed-in readers, each with likes (two on the first page) and one purchase on it.
READERS, LIKES_PER_READER = 200, 12

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
    # The read models' indexes, as their services make them when they start (no worker
    # runs here): without them every reload of a page sorts the whole catalogue.
    await pictures_indexes(db)
    await likes_indexes(db)
    await PurchaseViews(db).ensure_indexes()
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


def _register(settings: Settings, n: int) -> tuple[str, str]:
    """A reader signed up at the Firebase Auth emulator (as the edge's sign-up does, without
    its rate limits): user id and ID token."""
    body = json.dumps({"email": f"reader{n}@bench.example.com",
                       "password": "correct horse battery", "returnSecureToken": True})
    request = urllib.request.Request(
        f"http://{settings.firebase_auth_emulator_host}/identitytoolkit.googleapis.com/v1/"
        f"accounts:signUp?key={settings.firebase_api_key}", data=body.encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        doc = json.load(answer)
    return doc["localId"], doc["idToken"]


def _first_page(n: int) -> str:
    """The id of the ``n``-th picture (0 to 19) of the feed's first page."""
    return f"{CATALOGUE - 1 - n % 20:08d}-bench"


async def _seed_marks(url: str, database: str, readers: list[str]) -> None:
    """Each reader's likes (two on the first page, the rest anywhere) and one completed
    purchase of a first-page picture, as the reactions and purchases services leave them."""
    db = AsyncIOMotorClient(url)[database]
    await db[LIKES].create_index([("user_id", 1), ("picture_id", 1)])  # the reactions service's
    likes, purchases = [], []
    for r, reader in enumerate(readers):
        liked = {_first_page(r), _first_page(r + 7)}
        liked |= {f"{(r * 37 + k * 101) % CATALOGUE:08d}-bench"
                  for k in range(LIKES_PER_READER - 2)}
        likes += [{"picture_id": p, "user_id": reader, "liked_at": "2026-01-02T00:00:00Z"}
                  for p in sorted(liked)]
        bought = _first_page(r + 3)
        purchases.append({
            "_id": f"bench-purchase-{r}", "buyer_id": reader, "seller_id": "owner-0",
            "picture_id": bought, "status": "completed", "amount_cents": 500, "currency": "usd",
            "created_at": "2026-01-02T00:00:00Z", "completed_at": "2026-01-02T00:00:00Z"})
    await db[LIKES].insert_many(likes)
    await db[PURCHASES].insert_many(purchases)


def _readers_script(tokens: list[str]) -> Path:
    """wrk's Lua script: each request as a random reader."""
    return random_script("readers", {"tokens": tokens}, """
  local token = tokens[math.random(#tokens)]
  return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. token})""")


def _check_marks(url: str, readers: list[tuple[str, str]]) -> None:
    """Every reader's page carries exactly their own marks (the benchmark measures those);
    this is also each reader's first read, so wrk measures readers who read before."""
    for r in range(READERS):
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {readers[r][1]}"})
        with urllib.request.urlopen(request) as answer:
            items = json.load(answer)["items"]
        liked = {i["picture_id"] for i in items if i["liked_by_me"]}
        bought = {i["picture_id"] for i in items if i["purchased_by_me"]}
        assert liked == {_first_page(r), _first_page(r + 7)}, (r, liked)
        assert bought == {_first_page(r + 3)}, (r, bought)


def _timed(pid: int, cpu: list[float], url: str, **kwargs) -> WrkResult:
    """One wrk read, adding the CPU time the answering process used to ``cpu``."""
    before = cpu_seconds(pid)
    result = wrk(url, connections=CONNECTIONS, seconds=ROUND_SECONDS, **kwargs)
    cpu.append((cpu_seconds(pid) - before) / max(result.requests, 1))
    return result


def _combined(results: list[WrkResult]) -> WrkResult:
    """The rounds of one read as one: requests a second over all of them, the median of
    their p50s and p99s."""
    return WrkResult(
        requests=sum(r.requests for r in results),
        per_second=statistics.mean(r.per_second for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results), text="\n".join(r.text for r in results))


def _line(name: str, result: WrkResult, floor: WrkResult) -> str:
    return (f"{name}: {result.per_second:,.0f} req/s p50 {result.p50_ms:.1f} ms "
            f"p99 {result.p99_ms:.1f} ms ({result.errors} errors), "
            f"{result.per_second / floor.per_second:.2f}x the floor")


def main() -> dict:
    print(f"benchmark 1, feed reads — machine: {machine()}", flush=True)
    # No workers: the read models are written here, and the edge only reads them.
    with running(workers=dict.fromkeys(DOMAINS, 0), edges=1) as system:
        settings = system.settings
        asyncio.run(_seed(settings.mongodb_url, settings.mongodb_database))
        readers = [_register(settings, n) for n in range(READERS)]
        asyncio.run(_seed_marks(settings.mongodb_url, settings.mongodb_database,
                                [user_id for user_id, _ in readers]))
        url = f"{system.edge_url}/api/v1/pictures?limit=20"
        with urllib.request.urlopen(url) as answer:
            body = answer.read()
        _check_marks(url, readers)
        script = _readers_script([token for _, token in readers])
        path = system.stack.data_dir / "feed.json"
        path.write_bytes(body)
        port = free_ports(["floor"])["floor"]
        floor = subprocess.Popen([sys.executable, "-c", _FLOOR, str(path), str(port)])
        try:
            floor_url = f"http://127.0.0.1:{port}/api/v1/pictures?limit=20"
            wait_answering(floor_url)
            wrk(url, connections=CONNECTIONS, seconds=2)  # warm-up
            wrk(url, connections=CONNECTIONS, seconds=2, script=script)  # warm-up
            names = ("anonymous", "signed_in", "floor", "floor_scripted")
            rounds: dict[str, list[WrkResult]] = {name: [] for name in names}
            # CPU seconds per answer of the answering process (the edge, the floor): what
            # one core would answer, less moved by the machine's load than requests/s.
            cpu: dict[str, list[float]] = {name: [] for name in names}
            edge_pid = system.edges[0].proc.pid
            for _ in range(ROUNDS):
                rounds["anonymous"].append(_timed(edge_pid, cpu["anonymous"], url))
                rounds["signed_in"].append(_timed(edge_pid, cpu["signed_in"], url,
                                                  script=script))
                rounds["floor"].append(_timed(floor.pid, cpu["floor"], floor_url))
                # The floor with the readers' script too: what building each request in
                # Lua costs wrk itself (the bare handler ignores the header).
                rounds["floor_scripted"].append(_timed(floor.pid, cpu["floor_scripted"],
                                                       floor_url, script=script))
            picasso, signed_in, bare, bare_scripted = (
                _combined(rounds[name])
                for name in ("anonymous", "signed_in", "floor", "floor_scripted"))
        finally:
            floor.terminate()
            floor.wait()
    ratio = picasso.per_second / bare.per_second
    signed_ratio = signed_in.per_second / bare.per_second
    print(f"feed reads ({len(body):,} bytes/answer, {CONNECTIONS} connections, one edge); "
          f"floor {bare.per_second:,.0f} req/s p99 {bare.p99_ms:.1f} ms", flush=True)
    per_answer = {name: statistics.mean(values) * 1e6 for name, values in cpu.items()}
    print("CPU per answer: " + ", ".join(f"{name} {us:.0f} us" for name, us in per_answer.items())
          + f"; floor/edge: anonymous {per_answer['floor'] / per_answer['anonymous']:.2f}x, "
          f"signed in {per_answer['floor'] / per_answer['signed_in']:.2f}x", flush=True)
    print(_line("anonymous", picasso, bare) + " (target >= 0.7x, p99 <= 20 ms)", flush=True)
    print(_line(f"signed in, {READERS} readers", signed_in, bare) + " (target >= 0.5x); "
          f"{signed_in.per_second / bare_scripted.per_second:.2f}x the floor read with the "
          f"readers' script ({bare_scripted.per_second:,.0f} req/s)", flush=True)
    return {"picasso_per_s": picasso.per_second, "picasso_p99_ms": picasso.p99_ms,
            "floor_per_s": bare.per_second, "floor_p99_ms": bare.p99_ms, "ratio": ratio,
            "errors": picasso.errors, "signed_in_per_s": signed_in.per_second,
            "signed_in_p99_ms": signed_in.p99_ms, "signed_in_ratio": signed_ratio,
            "signed_in_errors": signed_in.errors,
            "floor_scripted_per_s": bare_scripted.per_second,
            "cpu_us_per_answer": per_answer}


if __name__ == "__main__":
    main()
