"""The trending service over the real broker and MongoDB, in a run of its own (topics,
consumer group, database): a scripted stream of facts stamped across buckets and windows
gives the expected rankings, and a worker killed mid-window and started again (its clock
moved on) ends with exact counts, nothing lost and nothing counted twice."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from motor.motor_asyncio import AsyncIOMotorDatabase

from agents.trending.scoring import bucket_of
from deploy.local.processes import Worker
from deploy.local.stack import Stack
from picasso.mongo import TRENDING, TRENDING_ACTIVITY, TRENDING_BUCKETS, TRENDING_JOURNAL
from tests.integration.delivery import isolated, send_all, send_slowly
from topics.comments import COMMENT_ADDED, COMMENT_DELETED
from topics.envelope import CloudEvent, utc_stamp
from topics.pictures import PICTURE_DELETED
from topics.purchases import PURCHASE_COMPLETED
from topics.reactions import PICTURE_LIKED, PICTURE_UNLIKED
from topics.record import Record
from topics.registry import RECORDS

pytestmark = pytest.mark.slow
EPOCH = datetime.fromtimestamp(0, UTC)


def fact(record: Record, at: datetime, event_id: str | None = None, **data) -> CloudEvent:
    """A fact as its service tells it, stamped ``at`` (the event's own time)."""
    key = data[record.topic.key]
    return CloudEvent(type=record.type, subject=key, source="/tests", data=data,
                      time=utc_stamp(at), id=event_id or uuid.uuid4().hex)


def like(picture: str, user: str, at: datetime, event_id: str | None = None) -> CloudEvent:
    return fact(PICTURE_LIKED, at, event_id, picture_id=picture, user_id=user, like_count=1)


def unlike(picture: str, user: str, at: datetime) -> CloudEvent:
    return fact(PICTURE_UNLIKED, at, picture_id=picture, user_id=user, like_count=0)


async def send(settings, events: list[CloudEvent], slowly: bool = False) -> None:
    """Each fact on its own topic, in order."""
    by_topic: dict[str, list[CloudEvent]] = {}
    for event in events:
        by_topic.setdefault(RECORDS[event.type].topic.name(settings.topic_prefix),
                            []).append(event)
    for topic, batch in by_topic.items():
        await (send_slowly if slowly else send_all)(settings.kafka_bootstrap, topic, batch)


def trending_worker(stack: Stack, env: dict[str, str], name: str) -> Worker:
    return Worker(name, env, stack.data_dir / "logs" / f"{name}.log", stack.data_dir / name,
                  "trending")


async def eventually(check, timeout_s: float = 60.0):
    """What ``check`` answers once it is truthy; fails with its last answer after the time."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        answer = await check()
        if answer[0] or asyncio.get_running_loop().time() > deadline:
            assert answer[0], answer[1]
            return answer[1]
        await asyncio.sleep(0.2)


async def ranking(db: AsyncIOMotorDatabase, window: str) -> list[str]:
    doc = await db[TRENDING].find_one({"_id": window})
    return [item["picture_id"] for item in doc["items"]] if doc else []


async def counts(db: AsyncIOMotorDatabase) -> dict[tuple[str, str, str], int]:
    """Every non-zero count, by (picture, bucket, kind)."""
    found = {}
    async for doc in db[TRENDING_BUCKETS].find():
        for kind in ("like", "comment", "purchase"):
            if doc.get(kind):
                found[(doc["picture_id"], doc["bucket"], kind)] = doc[kind]
    return found


async def test_a_scripted_stream_is_ranked_by_recent_weighted_activity(
        stack: Stack, system_env: dict[str, str]) -> None:
    run, env, settings, db = await isolated(system_env, "trend")
    worker = trending_worker(stack, {**env, "TRENDING_REFRESH_S": "0.3"}, f"trending-{run}")
    now = datetime.now(UTC)

    def ago(minutes: float) -> datetime:
        return now - timedelta(minutes=minutes)

    old_burst, new_small, talked, bought, taken_back, deleted = (
        f"{name}-{run}" for name in ("old-burst", "new-small", "talked-about", "bought",
                                     "taken-back", "deleted"))
    stream: list[CloudEvent] = []
    for n in range(10):  # ten likes 50 minutes ago, each delivered twice
        stream += [like(old_burst, f"u{n}", ago(50))] * 2
    for n in range(4):  # four likes 2 minutes ago; one user likes again under a new id
        stream.append(like(new_small, f"u{n}", ago(2)))
    stream.append(like(new_small, "u0", ago(1)))
    comments = [uuid.uuid4().hex for _ in range(3)]
    for comment_id in comments:  # three comments 20 minutes ago, one deleted later
        stream.append(fact(COMMENT_ADDED, ago(20), picture_id=talked, comment_id=comment_id,
                           user_id="u9", text="lovely", created_at=utc_stamp(ago(20)),
                           comment_count=1))
    stream.append(fact(COMMENT_DELETED, ago(10), picture_id=talked, comment_id=comments[0],
                       user_id="u9", deleted_by="u9", comment_count=2))
    stream.append(fact(PURCHASE_COMPLETED, ago(180), purchase_id=uuid.uuid4().hex,
                       picture_id=bought, buyer_id="u8", seller_id="s", amount_cents=500,
                       currency="usd"))
    for n in range(5):  # liked and taken back: nothing
        stream += [like(taken_back, f"u{n}", ago(1)), unlike(taken_back, f"u{n}", ago(0.5))]
    stream += [like(deleted, f"u{n}", ago(1)) for n in range(20)]
    stream.append(fact(PICTURE_DELETED, ago(0.2), picture_id=deleted, owner_id="o"))
    stream.append(like(deleted, "late", ago(0.1)))  # after its deletion: ignored
    try:
        worker.start()
        worker.wait_ready()
        await send(settings, stream)

        async def ranked() -> tuple[bool, dict]:
            got = {w: await ranking(db, w) for w in ("hour", "day")}
            # Over the hour (half-life 15 min): 4 likes 2 minutes old (about 3.6) before
            # 2 comments 20 minutes old (about 1.6) before 10 likes 50 minutes old (about 1);
            # the purchase is 3 hours old. Over the day (half-life 6 h) the burst leads (9),
            # then the likes (4), the comments (3.8) and the purchase (5 halved: 3.5).
            want = {"hour": [new_small, talked, old_burst],
                    "day": [old_burst, new_small, talked, bought]}
            return got == want, got

        await eventually(ranked)
        assert await counts(db) == {
            (old_burst, utc_stamp(bucket_of(ago(50))), "like"): 10,
            (new_small, utc_stamp(bucket_of(ago(2))), "like"): 4,
            (talked, utc_stamp(bucket_of(ago(20))), "comment"): 2,
            (bought, utc_stamp(bucket_of(ago(180))), "purchase"): 1,
        }
    finally:
        worker.stop()


async def test_a_worker_killed_mid_window_and_restarted_keeps_exact_counts(
        stack: Stack, system_env: dict[str, str]) -> None:
    run, env, settings, db = await isolated(system_env, "trendr")
    name = f"trending-restart-{run}"
    now = datetime.now(UTC)
    rng = random.Random(run)
    pictures = [f"p{n}-{run}" for n in range(8)]  # keys over every partition
    stream: list[CloudEvent] = []
    liked: dict[tuple[str, str], datetime] = {}  # (picture, user) → when the like counts
    last: dict[tuple[str, str], datetime] = {}  # (picture, user) → its latest fact's time
    for n in range(600):
        pair = (rng.choice(pictures), f"u{rng.randrange(40)}")
        # Across several buckets, each pair's facts in order (one partition per picture).
        at = max(now - timedelta(seconds=rng.uniform(0, 25 * 60)), last.get(pair, EPOCH))
        last[pair] = at
        if pair in liked and rng.random() < 0.3:
            del liked[pair]
            stream.append(unlike(*pair, at))
            continue
        liked.setdefault(pair, at)  # liked again while it counts: it stays where it was
        stream.append(like(*pair, at))
        if n % 7 == 0:
            stream.append(stream[-1])  # delivered twice
    expected: dict[tuple[str, str, str], int] = {}
    for (picture, _), at in liked.items():
        key = (picture, utc_stamp(bucket_of(at)), "like")
        expected[key] = expected.get(key, 0) + 1

    contributions = len({(e.data["picture_id"], e.data["user_id"]) for e in stream})
    first = trending_worker(stack, env, name)
    try:
        first.start()
        first.wait_ready()
        sending = asyncio.create_task(send(settings, stream, slowly=True))
        while await db[TRENDING_ACTIVITY].count_documents({}) < contributions // 4:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        first.kill()  # mid-stream, with no chance to commit or finish a batch
        killed_at = await db[TRENDING_ACTIVITY].count_documents({})
        await sending  # the rest arrives while it is down
        assert killed_at < contributions, "it finished before it was killed"
    finally:
        first.stop()
    # Started again ten minutes later by its clock: the activity is still in both windows.
    again = trending_worker(stack, {**env, "TRENDING_CLOCK_OFFSET_S": "600",
                                    "TRENDING_REFRESH_S": "0.3"}, name)
    try:
        again.start()
        again.wait_ready()

        async def exact() -> tuple[bool, dict]:
            # Every contribution there, every journal entry applied, and the counts exact.
            got = await counts(db)
            written = await db[TRENDING_ACTIVITY].count_documents({})
            left_open = await db[TRENDING_JOURNAL].count_documents({"open": True})
            return got == expected and written == contributions and not left_open, {
                "contributions": written, "open entries": left_open, "missing or wrong": {
                    k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v},
                "extra": {k: v for k, v in got.items() if k not in expected}}

        await eventually(exact, 120)
        # Applied in batches: a batch that failed as a whole would have been applied one
        # message at a time, right but slow.
        assert b"batch_failed_one_at_a_time" not in again.log_path.read_bytes()
        likes = {p: sum(n for (q, _, _), n in expected.items() if q == p) for p in pictures}
        liked = {p for p, n in likes.items() if n}

        async def ranked() -> tuple[bool, list[str]]:
            # The ranking is refreshed on the worker's timer, a moment after the counts.
            hour = await ranking(db, "hour")
            return set(hour) == liked, hour

        await eventually(ranked, 60)
    finally:
        again.stop()


@pytest.fixture
async def trending(stack: Stack):
    """The service's logic on a database of its own, with a clock the test moves."""
    from motor.motor_asyncio import AsyncIOMotorClient

    from agents.trending.trending import Trending
    from picasso.settings import Settings

    settings = Settings.from_env(stack.env())
    client = AsyncIOMotorClient(settings.mongodb_url)
    name = f"trending_{uuid.uuid4().hex[:8]}"
    clock = [datetime(2026, 12, 2, 12, 0, tzinfo=UTC)]
    domain = Trending(client[name], clock=lambda: clock[0])
    await domain.ensure_indexes()
    yield domain, clock
    await client.drop_database(name)


async def test_concurrent_writers_redelivery_time_passing_and_the_sweep(trending) -> None:
    domain, clock = trending
    start = clock[0]
    bucket = utc_stamp(bucket_of(start - timedelta(minutes=10)))

    def bought(n: int) -> tuple[Record, CloudEvent]:
        return PURCHASE_COMPLETED, fact(
            PURCHASE_COMPLETED, start - timedelta(minutes=10), purchase_id=f"q{n}",
            picture_id="p", buyer_id=f"b{n}", seller_id="s", amount_cents=100, currency="usd")

    likes = [(PICTURE_LIKED, like("p", f"u{n}", start - timedelta(minutes=10)))
             for n in range(30)]
    # Purchases of one picture come on several partitions: two workers apply them at once,
    # while the likes are applied too.
    await asyncio.gather(*(domain.apply([bought(n)]) for n in range(20)),
                         domain.apply(likes[:15]), domain.apply(likes[15:]))
    await asyncio.gather(*(domain.apply([bought(n)]) for n in range(20)), domain.apply(likes))
    assert await counts(domain.db) == {("p", bucket, "purchase"): 20, ("p", bucket, "like"): 30}
    assert [r["picture_id"] for r in (await domain.refresh())["hour"]] == ["p"]

    clock[0] = start + timedelta(hours=2)  # out of the hour, still in the day
    rankings = await domain.refresh()
    assert rankings["hour"] == [] and [r["picture_id"] for r in rankings["day"]] == ["p"]
    clock[0] = start + timedelta(hours=25)
    await domain.sweep()
    assert await counts(domain.db) == {}
    assert await domain.db[TRENDING_BUCKETS].count_documents({}) == 0
    assert (await domain.refresh())["day"] == []
    # A like redelivered after its day is over counts nowhere.
    await domain.apply(likes[:1])
    assert await counts(domain.db) == {}


async def test_a_batch_cut_short_and_redelivered_twice_counts_once(trending) -> None:
    """A worker stopped between writing a batch's contributions and adding its counts (its
    journal entry left open), then the same batch delivered twice more: each contribution
    counts once, where its last fact says."""
    from agents.trending.trending import Trending

    domain, clock = trending
    start = clock[0]
    earlier, later = start - timedelta(minutes=12), start - timedelta(minutes=3)
    batch: list[tuple[Record, CloudEvent]] = []
    for n in range(60):  # sixty likes on three pictures, over two buckets
        batch.append((PICTURE_LIKED, like(f"p{n % 3}", f"u{n}", earlier if n < 30 else later)))
    for n in range(0, 60, 4):  # a quarter taken back
        batch.append((PICTURE_UNLIKED, unlike(f"p{n % 3}", f"u{n}", start)))
    batch.append(batch[5])  # one told twice in the batch itself
    comment = uuid.uuid4().hex
    batch.append((COMMENT_ADDED, fact(COMMENT_ADDED, later, picture_id="p0", comment_id=comment,
                                      user_id="u1", text="lovely", created_at=utc_stamp(later),
                                      comment_count=1)))
    expected: dict[tuple[str, str, str], int] = {}
    for n in range(60):
        if n % 4:
            key = (f"p{n % 3}", utc_stamp(bucket_of(earlier if n < 30 else later)), "like")
            expected[key] = expected.get(key, 0) + 1
    expected[("p0", utc_stamp(bucket_of(later)), "comment")] = 1

    class StoppedBeforeCounting(Trending):
        async def _add(self, entry_id: str, deltas: list[dict]) -> None:
            raise ConnectionError("the worker stopped here")

    cut_short = StoppedBeforeCounting(domain.db, clock=domain.clock)
    with pytest.raises(ConnectionError):
        await cut_short.apply(batch)
    assert await domain.db[TRENDING_ACTIVITY].count_documents({}) == 61  # written, not counted
    assert await counts(domain.db) == {}
    assert await domain.db[TRENDING_JOURNAL].count_documents({"open": True}) == 1
    await domain.apply(batch)  # redelivered: the open entry is applied first, then nothing
    assert await counts(domain.db) == expected
    await asyncio.gather(domain.apply(batch[:40]), domain.apply(batch[40:]))  # and again
    assert await counts(domain.db) == expected
    assert await domain.db[TRENDING_JOURNAL].count_documents({"open": True}) == 0


async def test_an_entry_left_open_is_finished_by_the_sweep(trending) -> None:
    from agents.trending.trending import JOURNAL_STALE_S, Trending

    domain, clock = trending
    at = clock[0] - timedelta(minutes=1)

    class StoppedBeforeCounting(Trending):
        async def _add(self, entry_id: str, deltas: list[dict]) -> None:
            raise ConnectionError("the worker stopped here")

    with pytest.raises(ConnectionError):
        await StoppedBeforeCounting(domain.db, clock=domain.clock).apply(
            [(PICTURE_LIKED, like("p", f"u{n}", at)) for n in range(3)])
    await domain.sweep()  # too recent: its worker may still be at it
    assert await counts(domain.db) == {}
    clock[0] += timedelta(seconds=JOURNAL_STALE_S + 1)
    await domain.sweep()
    assert await counts(domain.db) == {("p", utc_stamp(bucket_of(at)), "like"): 3}
    assert await domain.db[TRENDING_JOURNAL].count_documents({"open": True}) == 0
