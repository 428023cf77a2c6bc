"""What the tests share: a small API client, pictures made on the fly, and Kafka helpers."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from PIL import Image

from deploy.local.processes import Edge
from deploy.local.stack import free_ports

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_with_gps(width: int = 640, height: int = 480, orientation: int = 1) -> bytes:
    """A real JPEG whose EXIF carries a GPS position (and optionally an orientation)."""
    image = Image.new("RGB", (width, height))
    for x in range(0, width, 8):  # some structure, so it is not one flat colour
        image.paste((x % 256, (x * 3) % 256, 128), (x, 0, x + 8, height))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "Picasso test camera"
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (37.0, 20.0, 10.0)
    gps[3] = "W"
    gps[4] = (121.0, 53.0, 30.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


@dataclass
class User:
    user_id: str
    email: str
    token: str
    display_name: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """Calls the edge's HTTP API the way a client following API.md would."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base = base_url

    async def call(self, method: str, path: str, *, user: User | None = None,
                   **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {**(user.auth if user else {}), **kwargs.pop("headers", {})}
        async with self.http.request(method, f"{self.base}{path}", headers=headers,
                                     allow_redirects=False, **kwargs) as answer:
            raw = await answer.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            return answer.status, body, answer

    async def register(self, name: str = "Ada") -> User:
        email = f"{name.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        status, body, _ = await self.call("POST", "/api/v1/auth/register", json={
            "email": email, "password": "correct horse battery", "display_name": name,
        })
        assert status == 201, body
        # The account's name is the users service's projection, another process: wait until
        # the profile shows it, so that a test's next read sees the person whole.
        for _ in range(200):
            status, _, _ = await self.call("GET", f"/api/v1/users/{body['user_id']}")
            if status == 200:
                break
            await asyncio.sleep(0.05)
        assert status == 200, f"the users service never projected {body['user_id']}"
        return User(body["user_id"], email, body["id_token"], name)

    async def upload(self, user: User, data: bytes, *, title: str = "Golden Gate at dusk",
                     price_cents: int = 0, tags: str = "", filename: str = "photo.jpg",
                     content_type: str = "image/jpeg", **extra: str) -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("title", title)
        form.add_field("price_cents", str(price_cents))
        if tags:
            form.add_field("tags", tags)
        for name, value in extra.items():
            form.add_field(name, value)
        form.add_field("file", data, filename=filename, content_type=content_type)
        status, body, _ = await self.call("POST", "/api/v1/pictures", user=user, data=form)
        return status, body

    async def published(self, user: User, data: bytes, **kwargs: Any) -> dict:
        """Upload and wait until the picture is published; returns the picture."""
        status, body = await self.upload(user, data, **kwargs)
        assert status == 202, body
        # A client asks again while it is processing (on a busy machine a service just
        # started may take longer than one long poll for its first picture).
        for _ in range(6):
            status, picture, _ = await self.call(
                "GET", f"/api/v1/pictures/{body['picture_id']}?wait_ms=10000", user=user)
            if status != 200 or picture["status"] != "processing":
                break
        assert status == 200 and picture["status"] == "published", picture
        return picture


async def produce(bootstrap: str, topic: str, value: bytes | None, key: bytes | None,
                  max_request_size: int = 1024 * 1024) -> None:
    """Put one raw message on a topic, as another system with any Kafka client would
    (``max_request_size`` raised to send messages over the client's default 1 MiB)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=max_request_size)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, predicate, timeout_s: float = 15.0) -> dict:
    """The first JSON message on ``topic`` for which ``predicate`` holds."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None)
    await consumer.start()
    try:
        import asyncio

        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for message in messages:
                    doc = json.loads(message.value)
                    if predicate(doc):
                        return doc
        raise AssertionError(f"no matching message on {topic} within {timeout_s}s")
    finally:
        await consumer.stop()


@dataclass
class LiveMessage:
    """One Server-Sent Event of ``GET /api/v1/live``, or a comment line (``event`` None)."""

    event: str | None
    data: Any = None
    id: str | None = None
    comment: str | None = None


class LiveStream:
    """A client of ``GET /api/v1/live`` reading its Server-Sent Events."""

    def __init__(self, answer: aiohttp.ClientResponse) -> None:
        self.answer = answer
        self.last_id: str | None = None

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, base: str,
                   pictures: tuple[str, ...] | list[str] = (), *, user: User | None = None,
                   last_event_id: str | None = None) -> LiveStream:
        headers = {**(user.auth if user else {})}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        answer = await http.get(f"{base}/api/v1/live", params={"pictures": ",".join(pictures)},
                                headers=headers,
                                timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        return cls(answer)

    async def message(self) -> LiveMessage:
        """The next event or comment (raises EOFError when the stream ended)."""
        fields: dict[str, str] = {}
        while True:
            line = await self.answer.content.readline()
            if not line:
                raise EOFError("the live stream ended")
            line = line.decode().rstrip("\n")
            if line.startswith(":"):
                return LiveMessage(None, comment=line[1:].strip())
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "event" in fields or "data" in fields:
                if "id" in fields:
                    self.last_id = fields["id"]
                return LiveMessage(fields.get("event", "message"),
                                   json.loads(fields.get("data", "null")), fields.get("id"))

    async def comment(self) -> str:
        """The next comment line, skipping events."""
        while (message := await self.message()).event is not None:
            pass
        return message.comment or ""

    async def until(self, event: str, check=lambda data: True,
                    timeout_s: float = 20.0) -> LiveMessage:
        """The first ``event`` whose data passes ``check``, skipping others."""
        async def find() -> LiveMessage:
            while True:
                message = await self.message()
                if message.event == event and check(message.data):
                    return message
        return await asyncio.wait_for(find(), timeout_s)

    def close(self) -> None:
        self.answer.close()


@contextmanager
def edge_of_its_own(name: str, env: dict[str, str], settings: dict[str, str],
                    log_dir: Path) -> Iterator[str]:
    """An edge next to the session's, on a free port with ``settings`` (low limits, say);
    yields its base URL and stops it (by pid) afterwards."""
    port = free_ports(["edge"])["edge"]
    edge = Edge(f"{name}-{uuid.uuid4().hex[:6]}", {**env, **settings, "EDGE_PORT": str(port)},
                log_dir / "edge.log")
    edge.start()
    try:
        edge.wait_ready()
        yield edge.url
    finally:
        edge.stop()
