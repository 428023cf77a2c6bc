"""Live updates over HTTP (``GET /api/v1/live``, Server-Sent Events) against the running
system: counts of watched pictures, a buyer's purchase, the bell, the home timeline, resuming
with Last-Event-ID, and the limits (on an edge of the test's own with low ones)."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from typing import Iterator

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from picasso.kafka import ensure_topics
from picasso.settings import Settings
from tests.helpers import Api, LiveStream, edge_of_its_own, jpeg_with_gps
from topics.envelope import CloudEvent
from topics.reactions import PICTURE_LIKED

# The test's own edge has topics of its own: the drop test floods them with thousands of
# likes, which the session's workers (notifications, trending) would otherwise work through
# for long after, delaying the next tests' outcomes.
EDGE_PREFIX = f"live-{uuid.uuid4().hex[:8]}."
LIMITS = {
    "PICASSO_TOPIC_PREFIX": EDGE_PREFIX,
    "LIVE_MAX_PER_USER": "2",
    "LIVE_MAX_PER_ADDRESS": "2",
    "LIVE_QUEUE_MAX": "8",
    "LIVE_HEARTBEAT_S": "0.5",
}


async def ready(stream: LiveStream) -> str:
    """The id of the stream's first message, ``ready``."""
    assert stream.answer.status == 200, await stream.answer.text()
    assert stream.answer.headers["Content-Type"].startswith("text/event-stream")
    first = await stream.until("ready")
    assert first.id
    return first.id


async def test_a_like_and_a_comment_reach_every_watcher(api: Api) -> None:
    ada = await api.register("Ada")
    bob = await api.register("Bob")
    pid = (await api.published(ada, jpeg_with_gps(64, 48)))["picture_id"]
    visitor = await LiveStream.open(api.http, api.base, [pid])  # not signed in
    owner = await LiveStream.open(api.http, api.base, [pid], user=ada)
    try:
        await ready(visitor)
        await ready(owner)
        # "Your picture is live", told once the notifications service has it.
        await owner.until("notifications", lambda d: d["unread"] == 1)

        status, body, _ = await api.call("PUT", f"/api/v1/pictures/{pid}/like", user=bob)
        assert status == 202, body
        for stream in (visitor, owner):
            got = await stream.until("likes")
            assert got.data == {"picture_id": pid, "like_count": 1}
        # Ada's bell counts up: Bob's like is a notification for her.
        await owner.until("notifications", lambda d: d["unread"] == 2)

        status, body, _ = await api.call("POST", f"/api/v1/pictures/{pid}/comments", user=bob,
                                         json={"text": "lovely"})
        assert status == 202, body
        got = await visitor.until("comments")
        assert got.data == {"picture_id": pid, "comment_count": 1}
        await owner.until("notifications", lambda d: d["unread"] == 3)

        # Marking read counts the bell down.
        status, _, _ = await api.call("POST", "/api/v1/me/notifications/read", user=ada,
                                      json={"all": True})
        assert status == 202
        await owner.until("notifications", lambda d: d["unread"] == 0)
    finally:
        visitor.close()
        owner.close()


async def test_a_purchase_status_reaches_its_buyer(api: Api) -> None:
    ada = await api.register("Ada")
    bob = await api.register("Bob")
    pid = (await api.published(ada, jpeg_with_gps(64, 48), price_cents=700))["picture_id"]
    buyer = await LiveStream.open(api.http, api.base, [pid], user=bob)
    seller = await LiveStream.open(api.http, api.base, [pid], user=ada)
    try:
        await ready(buyer)
        await ready(seller)
        status, body, _ = await api.call("POST", f"/api/v1/pictures/{pid}/purchases", user=bob,
                                         json={"payment_method": "pm_card_visa"})
        assert status == 202, body
        steps = [(await buyer.until("purchase")).data for _ in range(2)]
        assert steps == [
            {"purchase_id": body["purchase_id"], "picture_id": pid, "status": status,
             "failure_reason": None} for status in ("awaiting_payment", "completed")]
        # The seller hears of the sale through the bell, never of the buyer's purchase.
        told = []
        while not (told and told[-1].event == "notifications" and told[-1].data["unread"] == 2):
            told.append(await asyncio.wait_for(seller.message(), 20))
        assert "purchase" not in {m.event for m in told}
    finally:
        buyer.close()
        seller.close()


async def test_a_followed_persons_new_picture_reaches_the_follower(api: Api) -> None:
    ada = await api.register("Ada")
    bob = await api.register("Bob")
    status, body, _ = await api.call("PUT", f"/api/v1/users/{ada.user_id}/follow", user=bob)
    assert status == 202, body
    for _ in range(100):  # the follow is applied by the social service
        _, page, _ = await api.call("GET", f"/api/v1/users/{bob.user_id}/following")
        if any(p["user_id"] == ada.user_id for p in page["items"]):
            break
        await asyncio.sleep(0.1)
    reader = await LiveStream.open(api.http, api.base, user=bob)
    try:
        await ready(reader)
        pid = (await api.published(ada, jpeg_with_gps(64, 48), title="New"))["picture_id"]
        got = await reader.until("timeline")
        assert got.data == {"picture_id": pid, "owner_id": ada.user_id, "title": "New"}
    finally:
        reader.close()


async def test_a_reconnect_with_last_event_id_gets_what_it_missed(api: Api) -> None:
    ada = await api.register("Ada")
    bob = await api.register("Bob")
    cy = await api.register("Cy")
    pid = (await api.published(ada, jpeg_with_gps(64, 48)))["picture_id"]
    first = await LiveStream.open(api.http, api.base, [pid])
    last_seen = await ready(first)
    first.close()  # the page lost its connection

    watcher = await LiveStream.open(api.http, api.base, [pid])
    try:
        await ready(watcher)
        for who in (bob, cy):
            status, _, _ = await api.call("PUT", f"/api/v1/pictures/{pid}/like", user=who)
            assert status == 202
        seen = [(await watcher.until("likes")).data]
        while seen[-1]["like_count"] < 2:  # the edge has both
            seen.append((await watcher.until("likes")).data)
    finally:
        watcher.close()

    again = await LiveStream.open(api.http, api.base, [pid], last_event_id=last_seen)
    try:
        await ready(again)
        assert [(await again.until("likes")).data for _ in seen] == seen
    finally:
        again.close()

    # An id this edge did not give (another edge's, or before a restart), or not a number
    # ("¹" is a digit to str.isdigit, not to int): start afresh.
    epoch = last_seen.partition(".")[0]
    for stranger_id in ("0badc0de.5", f"{epoch}.¹"):
        stranger = await LiveStream.open(api.http, api.base, [pid], last_event_id=stranger_id)
        try:
            await ready(stranger)
            assert (await stranger.message()).event == "reset"
        finally:
            stranger.close()


async def test_bad_subscriptions_are_refused(api: Api) -> None:
    too_many = ",".join(uuid.uuid4().hex for _ in range(101))
    for pictures in (too_many, "not/an/id", "a b"):
        status, body, answer = await api.call("GET", "/api/v1/live",
                                              params={"pictures": pictures})
        assert status == 422, body
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    status, body, _ = await api.call("GET", "/api/v1/live",
                                     headers={"Authorization": "Bearer nonsense"})
    assert status == 401, body


# -- limits, on an edge of the test's own


@pytest.fixture(scope="module")
def live_edge(system: str, system_env: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An edge of its own with low live limits (a queue of 8, a heartbeat every 0.5 s), on
    topics of its own."""
    asyncio.run(ensure_topics(Settings.from_env({**system_env, **LIMITS})))
    with edge_of_its_own("live-edge", system_env, LIMITS,
                         tmp_path_factory.mktemp("live-edge")) as url:
        yield url


async def metric(http: aiohttp.ClientSession, base: str, name: str) -> float:
    async with http.get(f"{base}/metrics") as answer:
        text = await answer.text()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found, name
    return float(found.group(1))


async def no_streams(http: aiohttp.ClientSession, base: str) -> None:
    """Wait until the edge has counted out every stream its clients closed."""
    for _ in range(50):
        if await metric(http, base, "picasso_live_streams") == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("closed streams are still counted")


async def test_streams_per_user_and_per_address_are_limited(api: Api, live_edge: str) -> None:
    ada = await api.register("Ada")
    streams = [await LiveStream.open(api.http, live_edge, user=ada) for _ in range(2)]
    try:
        for stream in streams:
            await ready(stream)
        status, body, answer = await Api(api.http, live_edge).call("GET", "/api/v1/live",
                                                                   user=ada)
        assert status == 429, body
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert int(answer.headers["Retry-After"]) > 0
        # Heartbeats keep a quiet stream open (a comment line every LIVE_HEARTBEAT_S).
        heartbeat = await asyncio.wait_for(streams[0].comment(), 5)
        assert heartbeat == "heartbeat"
    finally:
        for stream in streams:
            stream.close()
    # Closed streams are counted out: the user may open one again.
    await no_streams(api.http, live_edge)
    again = await LiveStream.open(api.http, live_edge, user=ada)
    await ready(again)
    again.close()

    visitors = [await LiveStream.open(api.http, live_edge) for _ in range(2)]
    try:
        for stream in visitors:
            await ready(stream)
        status, body, _ = await Api(api.http, live_edge).call("GET", "/api/v1/live")
        assert status == 429, body
    finally:
        for stream in visitors:
            stream.close()
    await no_streams(api.http, live_edge)


async def test_a_client_that_does_not_read_is_dropped(api: Api, live_edge: str,
                                                      settings: Settings) -> None:
    """A client that never reads fills its small queue and is closed; the edge keeps no
    more for it than the queue, and its other streams go on."""
    pid = uuid.uuid4().hex  # a picture nobody has: these likes are for this test alone
    host, port = live_edge.removeprefix("http://").split(":")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills soon
    slow.settimeout(10)
    slow.connect((host, int(port)))
    slow.sendall(f"GET /api/v1/live?pictures={pid} HTTP/1.1\r\nHost: {host}\r\n\r\n"
                 .encode())  # and never reads
    healthy = await LiveStream.open(api.http, live_edge, [pid])
    dropped_before = await metric(api.http, live_edge, "picasso_live_dropped_total")

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    await producer.start()
    topic = PICTURE_LIKED.topic.name(EDGE_PREFIX)
    liker = uuid.uuid4().hex
    sent = 0
    try:
        await ready(healthy)
        while await metric(api.http, live_edge, "picasso_live_dropped_total") == dropped_before:
            assert sent < 50_000, "the edge kept a client that reads nothing"
            for _ in range(200):
                sent += 1
                event = CloudEvent(type=PICTURE_LIKED.type, subject=pid, source="/tests",
                                   data={"picture_id": pid, "user_id": liker,
                                         "like_count": sent})
                await producer.send(topic, event.to_json(), key=pid.encode())
            await producer.flush()
            # The healthy stream reads along.
            await healthy.until("likes", lambda d, n=sent: d["like_count"] == n)
        assert await metric(api.http, live_edge, "picasso_live_streams") == 1
        # The reader that reads on is still served.
        await producer.send_and_wait(topic, CloudEvent(
            type=PICTURE_LIKED.type, subject=pid, source="/tests",
            data={"picture_id": pid, "user_id": liker, "like_count": sent + 1}).to_json(),
            key=pid.encode())
        await healthy.until("likes", lambda d: d["like_count"] == sent + 1)
    finally:
        await producer.stop()
        healthy.close()

    def read_to_end() -> bytes:
        got = b""
        try:
            while chunk := slow.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass  # cut: what the kernel held may be gone with it
        return got

    # The dropped connection was cut: reading what the kernel held ends there.
    try:
        rest = await asyncio.to_thread(read_to_end)
    finally:
        slow.close()
    assert rest == b"" or rest.startswith(b"HTTP/1.1 200")
