"""Benchmark: search on a catalogue of 10,000 pictures, against the explore feed.

Benchmark 1's catalogue (10,000 published pictures of 200 owners), given titles,
descriptions and tags of words drawn from a vocabulary of picture words (a few common, most
rare, as in real titles), and indexed as the search service indexes (its own functions, the
documents written in bulk: pushing 10,000 events through the service would measure the
service's writes, which the freshness figure below does for new pictures). wrk, 64 connections, one
edge, for each typical query and for the feed (``GET /api/v1/pictures?limit=20``), one
after the other in the same run:

- one common word, one rare word, two words, a word being typed (a prefix), a word with the
  free filter, people by a prefix of their name, each on its own (the edge's page cache
  answers repeats, as it does the feed's);
- a mix of random queries (two vocabulary words, the second cut to three letters as while
  typing: tens of thousands of distinct queries), so most miss the cache.

Then freshness: PicturePublished events on Kafka, one at a time, each timed until the
search finds the picture (the search service's write, the edge's read).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from aiokafka import AIOKafkaProducer
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import UpdateOne

from agents.search.index import document, person_terms, picture_terms
from bench.feed import CATALOGUE, CONNECTIONS, OWNERS, SECONDS, _seed
from bench.system import machine, running
from bench.wrk import WrkResult, wrk
from picasso.domains import DOMAINS
from picasso.mongo import PICTURES, SEARCH_DOCUMENTS
from picasso.search import PERSON, PICTURE
from topics import PICTURES_EVENTS
from topics.envelope import CloudEvent, utc_now
from topics.pictures import PICTURE_PUBLISHED
from web.readmodels import ReadModels
from web.search import query_words, rank_pictures

VOCABULARY = (
    "sunset sunrise beach harbour lighthouse mountain lake river forest meadow city street "
    "bridge tower cathedral market night rain snow fog storm cloud sky star moon sea wave "
    "island desert canyon valley glacier volcano waterfall garden flower rose tulip tree "
    "leaf autumn winter spring summer portrait street-art mural graffiti train station "
    "airport boat ship sail fisherman harbourside village farm horse cow dog cat bird eagle "
    "owl fox deer bear wolf whale dolphin coral reef jungle palm temple shrine castle ruin "
    "abbey lantern neon skyline rooftop alley cafe coffee bread kitchen dinner wine vineyard "
    "field wheat sunflower poppy lavender orchard apple cherry blossom festival parade "
    "concert guitar piano dancer painter studio sculpture museum library window door stairs "
    "shadow reflection silhouette mirror puddle bicycle car tram bus highway road path "
    "trail hiker climber surfer swimmer skater runner child mother grandfather wedding "
    "smile laughter tears hands eyes face"
).split()
TAGS = ("landscape", "city", "nature", "people", "animals", "travel", "night", "food",
        "architecture", "sea", "bw", "film", "street", "macro", "portrait")
QUERIES = {
    "one common word": "q=sunset",
    "one rare word": "q=abbey",
    "two words": "q=harbour%20lighthouse",
    "a word being typed (prefix)": "q=moun",
    "two words, free only": "q=mountain%20lake&free=true",
    "people by a name's prefix": "q=own&type=people",
}
FRESHNESS_SAMPLES = 20


def _words(rng: random.Random, low: int, high: int) -> str:
    # Zipf-like: word n is drawn in proportion to 1 / (n + 1).
    weights = [1 / (n + 1) for n in range(len(VOCABULARY))]
    return " ".join(rng.choices(VOCABULARY, weights, k=rng.randint(low, high)))


async def _catalogue(url: str, database: str) -> None:
    """Words for benchmark 1's pictures, and the index the search service would make."""
    await _seed(url, database)
    db = AsyncIOMotorClient(url)[database]
    rng = random.Random(14)
    writes, docs = [], []
    async for doc in db[PICTURES].find({}, {"owner_id": 1, "created_at": 1}):
        n = int(doc["_id"][:8])
        text = {"title": _words(rng, 2, 4).capitalize(), "description": _words(rng, 5, 12),
                "tags": sorted(set(rng.sample(TAGS, 2))),
                "price_cents": 0 if n % 5 == 0 else 500 + n % 7}
        writes.append(UpdateOne({"_id": doc["_id"]}, {"$set": text}))
        picture = {**doc, **text}
        owner = f"Owner {doc['owner_id'].split('-')[1]}"
        docs.append(document(PICTURE, doc["_id"], picture_terms(picture, owner),
                             price_cents=text["price_cents"], created_at=doc["created_at"]))
    docs += [document(PERSON, f"owner-{n}", person_terms(f"Owner {n}")) for n in range(OWNERS)]
    for start in range(0, len(writes), 1000):
        await db[PICTURES].bulk_write(writes[start:start + 1000], ordered=False)
    for start in range(0, len(docs), 1000):
        await db[SEARCH_DOCUMENTS].insert_many(docs[start:start + 1000])
    keys = {key for d in docs for key, _ in d["terms"]}
    print(f"catalogue: {CATALOGUE:,} pictures, {len(keys):,} index keys", flush=True)


def _mix_script() -> Path:
    words = ", ".join(f'"{w}"' for w in VOCABULARY)
    script = Path(tempfile.mkdtemp()) / "mix.lua"
    script.write_text(f"""
local words = {{{words}}}
local n = 0
init = function(args) math.randomseed(os.time() + math.floor(os.clock() * 1000000)) end
request = function()
  local a = words[math.random(#words)]
  local b = string.sub(words[math.random(#words)], 1, 3)
  return wrk.format("GET", "/api/v1/search?q=" .. a .. "%20" .. b)
end
""")
    return script


def _read(url: str, script: Path | None = None) -> WrkResult:
    wrk(url, connections=CONNECTIONS, seconds=2, script=script, timeout_s=30)  # warm-up
    return wrk(url, connections=CONNECTIONS, seconds=SECONDS, script=script, timeout_s=30)


async def _freshness(settings) -> list[float]:
    """Seconds from a PicturePublished on Kafka to the picture being found, each."""
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    read = ReadModels(db, blobs=None)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    took = []
    try:
        for n in range(FRESHNESS_SAMPLES + 1):
            picture_id = uuid.uuid4().hex
            word = "fresh" + "".join(chr(ord("a") + int(c, 16)) for c in picture_id[:6])
            event = CloudEvent(type=PICTURE_PUBLISHED.type, subject=picture_id,
                               source="/bench", data={
                "picture_id": picture_id, "owner_id": "owner-1", "currency": "usd",
                "title": f"{word} sunset over the harbour", "description": _words(
                    random.Random(n), 5, 12), "price_cents": 0, "tags": ["sea", "travel"],
                "width": 640, "height": 480, "format": "jpeg",
                "original_key": f"originals/{picture_id}",
                "thumbnail_key": f"public/{picture_id}-t",
                "preview_key": f"public/{picture_id}-p", "created_at": utc_now()})
            began = time.monotonic()
            await producer.send_and_wait(PICTURES_EVENTS.name(settings.topic_prefix),
                                         event.to_json(), key=picture_id.encode())
            while not await rank_pictures(read, query_words(word)):  # noqa: ASYNC110 - polls
                await asyncio.sleep(0.005)  # the store, as a reader would
            if n:  # the first waits for the worker's first fetch
                took.append(time.monotonic() - began)
    finally:
        await producer.stop()
    return took


def main() -> dict:
    print(f"benchmark, search on {CATALOGUE:,} pictures — machine: {machine()}", flush=True)
    workers = dict.fromkeys(DOMAINS, 0) | {"search": 1}
    with running(workers=workers, edges=1) as system:
        settings = system.settings
        asyncio.run(_catalogue(settings.mongodb_url, settings.mongodb_database))
        base = f"{system.edge_url}/api/v1"
        results = {"explore feed": _read(f"{base}/pictures?limit=20")}
        for name, query in QUERIES.items():
            results[name] = _read(f"{base}/search?{query}&limit=20")
        results["mixed random queries"] = _read(f"{base}/search?q={quote('x')}",
                                                _mix_script())
        fresh = asyncio.run(_freshness(settings))
    feed = results["explore feed"].per_second
    for name, r in results.items():
        print(f"{name}: {r.per_second:,.0f} req/s p50 {r.p50_ms:.1f} ms p99 {r.p99_ms:.1f} ms "
              f"({r.errors} errors); {r.per_second / feed:.2f}x the feed", flush=True)
        if r.p50_ms == float("inf"):
            print(r.text, flush=True)  # wrk's own words on a run without a latency
    fresh.sort()
    print(f"published to findable ({len(fresh)} pictures, one at a time): p50 "
          f"{statistics.median(fresh) * 1000:.0f} ms, max {fresh[-1] * 1000:.0f} ms",
          flush=True)
    return {**{name: {"per_s": r.per_second, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                      "errors": r.errors, "ratio_to_feed": r.per_second / feed}
               for name, r in results.items()},
            "findable_p50_ms": statistics.median(fresh) * 1000,
            "findable_max_ms": fresh[-1] * 1000}


if __name__ == "__main__":
    main()
