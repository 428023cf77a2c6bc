"""What an attacker sends, and what must stay private: blob keys from Kafka, form and JSON
bodies, and the public files a picture leaves behind when its state changes."""

from __future__ import annotations

import uuid
from typing import AsyncIterator

import aioboto3
import aiohttp
import pytest

from tests.helpers import Api, jpeg_with_gps, produce, read_topic
from topics import DEADLETTER, PICTURES_COMMANDS
from topics.envelope import CloudEvent
from topics.pictures import UPLOAD_PICTURE, incoming_key
from web.validation import FORM_FIELD_MAX_BYTES, FORM_FIELDS_MAX, FORM_FIELDS_MAX_BYTES

GONE = (403, 404)  # what S3 (or the edge's /media) answers for a key that is not there


async def fetch(api: Api, url: str) -> tuple[int, bytes]:
    async with api.http.get(url) as answer:
        return answer.status, await answer.read()


async def download(api: Api, user, picture_id: str) -> bytes:
    status, body, answer = await api.call("GET", f"/api/v1/pictures/{picture_id}/original",
                                          user=user)
    assert status == 302, body
    status, data = await fetch(api, answer.headers["Location"])
    assert status == 200
    return data


@pytest.fixture
async def s3(settings, system_env) -> AsyncIterator:
    session = aioboto3.Session(aws_access_key_id=system_env["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=system_env["AWS_SECRET_ACCESS_KEY"])
    async with session.client("s3", endpoint_url=settings.s3_endpoint_url,
                              region_name=settings.s3_region) as client:
        yield client


async def stored(s3, settings, key: str) -> bool:
    listed = await s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=key)
    return any(item["Key"] == key for item in listed.get("Contents", []))


# 1. blob keys from Kafka


@pytest.mark.parametrize("attack", ["climb", "someone_elses_area"])
async def test_upload_command_cannot_take_another_users_original(api: Api, settings,
                                                                 attack: str) -> None:
    ada = await api.register("Ada")
    eve = await api.register("Eve")
    original = jpeg_with_gps(160, 120)
    victim = await api.published(ada, original, price_cents=900)
    picture_id = uuid.uuid4().hex
    blob_key = (f"incoming/../originals/{victim['picture_id']}" if attack == "climb"
                else incoming_key(ada.user_id, picture_id))
    upload = CloudEvent(type=UPLOAD_PICTURE.type, subject=picture_id, source="/eve", data={
        "picture_id": picture_id, "owner_id": eve.user_id, "blob_key": blob_key,
        "title": "Mine now", "price_cents": 0, "currency": "usd",
    })
    await produce(settings.kafka_bootstrap, PICTURES_COMMANDS.name(settings.topic_prefix),
                  upload.to_json(), picture_id.encode())

    letter = await read_topic(settings.kafka_bootstrap, DEADLETTER.name(settings.topic_prefix),
                              lambda doc: upload.id in doc["data"]["payload"])
    assert "blob_key" in letter["data"]["reason"], letter
    status, _, _ = await api.call("GET", f"/api/v1/pictures/{picture_id}", user=eve)
    assert status == 404  # nothing was published for Eve
    assert await download(api, ada, victim["picture_id"]) == original  # untouched


# 4. what a state change leaves public


async def test_free_to_priced_removes_the_clean_preview(api: Api) -> None:
    ada = await api.register("Ada")
    picture = await api.published(ada, jpeg_with_gps(320, 240), price_cents=0)
    clean = picture["preview_url"]
    assert (await fetch(api, clean))[0] == 200

    status, body, _ = await api.call("PATCH", f"/api/v1/pictures/{picture['picture_id']}",
                                     user=ada, json={"price_cents": 500})
    assert status == 202, body
    status, priced, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture['picture_id']}?wait_ms=10000&after="
        f"{body['command_id']}")
    assert priced["price_cents"] == 500 and priced["preview_url"] != clean
    assert (await fetch(api, priced["preview_url"]))[0] == 200  # the watermarked one
    assert (await fetch(api, clean))[0] in GONE


async def test_deleting_removes_the_renditions(api: Api) -> None:
    ada = await api.register("Ada")
    original = jpeg_with_gps(320, 240)
    picture = await api.published(ada, original, price_cents=800)
    public = [picture["preview_url"], picture["thumbnail_url"]]
    for url in public:
        assert (await fetch(api, url))[0] == 200

    pid = picture["picture_id"]
    status, body, _ = await api.call("DELETE", f"/api/v1/pictures/{pid}", user=ada)
    assert status == 202, body
    status, gone, _ = await api.call(
        "GET", f"/api/v1/pictures/{pid}?wait_ms=10000&after={body['command_id']}", user=ada)
    assert gone["status"] == "deleted", gone
    for url in public:
        assert (await fetch(api, url))[0] in GONE, url
    assert await download(api, ada, pid) == original  # buyers (and the owner) keep it


async def test_a_rejected_upload_keeps_no_copy(api: Api, settings, s3) -> None:
    ada = await api.register("Ada")
    status, body = await api.upload(ada, b"\xff\xd8\xff\xe0" + b"\x00" * 2000)
    assert status == 202, body
    pid = body["picture_id"]
    status, picture, _ = await api.call("GET", f"/api/v1/pictures/{pid}?wait_ms=10000",
                                        user=ada)
    assert picture["status"] == "rejected", picture
    assert not await stored(s3, settings, f"originals/{pid}")
    assert not await stored(s3, settings, incoming_key(ada.user_id, pid))


# 2. form bodies


def _form(fields: list[tuple[str, str]]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields:
        form.add_field(name, value)
    form.add_field("file", jpeg_with_gps(32, 24), filename="p.jpg", content_type="image/jpeg")
    return form


async def test_too_many_form_fields_is_422(api: Api) -> None:
    ada = await api.register("Ada")
    # Known names, each valid: only their number is wrong (the edge used to keep them all).
    fields = [("title", "t"), ("price_cents", "0")]
    fields += [("tags", "sea") for _ in range(FORM_FIELDS_MAX * 4)]
    status, body, _ = await api.call("POST", "/api/v1/pictures", user=ada, data=_form(fields))
    assert status == 422, body
    assert "fields" in body["detail"]


async def test_form_fields_over_their_total_are_413(api: Api) -> None:
    ada = await api.register("Ada")
    each = FORM_FIELD_MAX_BYTES - 1024  # each field within its own limit
    fields = [("title", "t"), ("price_cents", "0")]
    fields += [("description", "d" * each) for _ in range(FORM_FIELDS_MAX_BYTES // each + 1)]
    status, body, _ = await api.call("POST", "/api/v1/pictures", user=ada, data=_form(fields))
    assert status == 413, body


async def test_huge_form_field_is_413(api: Api) -> None:
    ada = await api.register("Ada")
    fields = [("title", "t"), ("price_cents", "0"), ("description", "d" * (1024 * 1024))]
    status, body, _ = await api.call("POST", "/api/v1/pictures", user=ada, data=_form(fields))
    assert status == 413, body


async def _chunked(fields: list[tuple[str, str]]) -> AsyncIterator[bytes]:
    """A multipart body sent with Transfer-Encoding: chunked, so without Content-Length."""
    boundary = "picasso-test-boundary"
    for name, value in fields:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
               f"{value}\r\n").encode()
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
           f"filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    yield jpeg_with_gps(32, 24)
    yield f"\r\n--{boundary}--\r\n".encode()


async def test_chunked_form_over_the_field_limit_is_413(api: Api) -> None:
    ada = await api.register("Ada")
    each = FORM_FIELDS_MAX_BYTES // 4  # every field within its own limit, all of them not
    fields = [("title", "t"), ("price_cents", "0")]
    fields += [(name, "a" * each) for name in ("description", "tags", "currency", "x", "y")]
    status, body, _ = await api.call(
        "POST", "/api/v1/pictures", user=ada, data=_chunked(fields),
        headers={"Content-Type": "multipart/form-data; boundary=picasso-test-boundary"})
    assert status == 413, body
    status, feed, _ = await api.call("GET", f"/api/v1/users/{ada.user_id}/pictures")
    assert feed["items"] == []


# 3. malformed JSON

BROKEN = [b"{", b'{"title": ', b"\xff\xfe", b"[" * 100_000, b"nul"]


@pytest.mark.parametrize("body", BROKEN, ids=["open", "cut", "not-utf8", "deep", "word"])
async def test_malformed_json_is_400_on_every_route(api: Api, body: bytes) -> None:
    ada = await api.register("Ada")
    bob = await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(32, 24), price_cents=600)
    pid = picture["picture_id"]
    routes = [
        ("POST", "/api/v1/auth/register", None),
        ("POST", "/api/v1/auth/login", None),
        ("POST", "/api/v1/auth/refresh", None),
        ("POST", "/api/v1/session", None),
        ("POST", "/api/v1/session/register", None),
        ("PATCH", "/api/v1/me", ada),
        ("PATCH", f"/api/v1/pictures/{pid}", ada),
        ("POST", f"/api/v1/pictures/{pid}/purchases", bob),
    ]
    for method, path, user in routes:
        status, problem, answer = await api.call(
            method, path, user=user, data=body, headers={"Content-Type": "application/json"})
        assert status == 400, (path, status, problem)
        assert answer.content_type == "application/problem+json", path


# 5. the price the buyer saw


async def test_a_pinned_price_that_changed_charges_nothing(api: Api, settings, ledger) -> None:
    from tests.e2e.test_purchases import settled
    from topics import PURCHASES_COMMANDS
    from topics.purchases import PURCHASE_PICTURE

    ada = await api.register("Ada")
    bob = await api.register("Bob")
    pid = (await api.published(ada, jpeg_with_gps(64, 48), price_cents=1500))["picture_id"]
    buy = f"/api/v1/pictures/{pid}/purchases"

    # The edge knows the price already: 409 at once, nothing is recorded.
    status, problem, _ = await api.call("POST", buy, user=bob, json={
        "payment_method": "pm_card_visa", "expected_price_cents": 1000})
    assert status == 409 and "1500" in problem["detail"], problem
    status, mine, _ = await api.call("GET", "/api/v1/me/purchases", user=bob)
    assert mine["items"] == []

    # The purchases agent fixes the price: a command pinning another fails uncharged.
    purchase_id = uuid.uuid4().hex
    command = CloudEvent(type=PURCHASE_PICTURE.type, subject=purchase_id, source="/client",
                         data={"purchase_id": purchase_id, "picture_id": pid,
                               "buyer_id": bob.user_id, "payment_method": "pm_card_visa",
                               "expected_price_cents": 1000})
    await produce(settings.kafka_bootstrap, PURCHASES_COMMANDS.name(settings.topic_prefix),
                  command.to_json(), purchase_id.encode())
    failed = await settled(api, bob, purchase_id)
    assert failed["status"] == "failed" and "price changed" in failed["failure_reason"], failed
    recorded = await ledger.get(purchase_id, bob.user_id)
    assert recorded.payment_intent_id is None  # no PaymentIntent, so no charge

    # The right price goes through.
    status, accepted, _ = await api.call("POST", buy, user=bob, json={
        "payment_method": "pm_card_visa", "expected_price_cents": 1500})
    assert status == 202, accepted
    assert (await settled(api, bob, accepted["purchase_id"]))["status"] == "completed"
