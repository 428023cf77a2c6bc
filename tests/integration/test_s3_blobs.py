"""The S3 blob store streams uploads through a temporary file, in parts past 8 MiB."""

from __future__ import annotations

import os
import uuid
from typing import AsyncIterator

import aiohttp
import pytest

from picasso import blobs
from picasso.blobs import BlobTooLarge, InvalidBlobKey, S3BlobStore
from picasso.settings import Settings

CHUNK = 256 * 1024


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start:start + CHUNK]


@pytest.fixture
async def store(settings: Settings, system_env: dict[str, str],
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[S3BlobStore]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, system_env[name])
    the_store = S3BlobStore(settings)
    await the_store.start()
    yield the_store
    await the_store.close()


@pytest.mark.parametrize("size", [300 * 1024, 2 * blobs._PART_SIZE + 123_457],
                         ids=["one-put", "three-parts"])
async def test_put_stream_stores_every_byte(store: S3BlobStore, size: int) -> None:
    data = os.urandom(size)
    key = f"incoming/{uuid.uuid4().hex}"

    assert await store.put_stream(key, chunks(data), "image/jpeg", size) == size

    assert await store.get(key) == data
    await store.delete(key)


async def test_put_stream_too_large_keeps_nothing(store: S3BlobStore) -> None:
    key = f"incoming/{uuid.uuid4().hex}"
    limit = blobs._PART_SIZE + CHUNK  # past the first part, so a multipart upload is open

    with pytest.raises(BlobTooLarge):
        await store.put_stream(key, chunks(os.urandom(limit + CHUNK)), "image/jpeg", limit)

    assert not await store.exists(key)
    pending = await store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=key)
    assert not pending.get("Uploads")


async def test_keys_that_could_climb_are_refused(store: S3BlobStore) -> None:
    """S3 itself keeps '..' as two characters, but what mirrors or proxies the bucket may not."""
    victim = f"originals/{uuid.uuid4().hex}"
    await store.put(victim, b"secret", "image/jpeg")
    climbing = f"incoming/../{victim}"
    for attempt in (lambda: store.get(climbing), lambda: store.copy(climbing, "originals/x"),
                    lambda: store.delete(climbing), lambda: store.exists(climbing),
                    lambda: store.put(climbing, b"x", "image/jpeg")):
        with pytest.raises(InvalidBlobKey):
            await attempt()
    assert await store.get(victim) == b"secret"
    await store.delete(victim)


async def test_a_download_link_is_s3s_own_and_saves_the_file(store: S3BlobStore) -> None:
    """The link comes from the store (S3 presigns it): it fetches the private object with
    the filename to save it as."""
    key = f"originals/{uuid.uuid4().hex}"
    await store.put(key, b"the original", "image/jpeg")
    url = await store.download_url(key, "sunset", 60)
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as answer:
            assert answer.status == 200, await answer.text()
            assert await answer.read() == b"the original"
            assert answer.headers["Content-Disposition"] == 'attachment; filename="sunset"'
    # Signed and expiring (the local S3 server does not check signatures; S3 does).
    assert "Signature=" in url and ("Expires=" in url or "X-Amz-Expires=60" in url), url
    with pytest.raises(blobs.BlobNotFound):
        store.media_file("public/p/thumbnail.jpg")  # media have the bucket's own address
