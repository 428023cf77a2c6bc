"""The directory blob store: atomic writes, size limits, and public files only from public/."""

from __future__ import annotations

from pathlib import Path

import pytest

from picasso.blobs import BlobNotFound, BlobTooLarge, DirectoryBlobStore, InvalidBlobKey


async def chunks(*parts: bytes):
    for part in parts:
        yield part


@pytest.fixture
async def store(tmp_path: Path) -> DirectoryBlobStore:
    blobs = DirectoryBlobStore(tmp_path / "blobs", "http://127.0.0.1:8080/media")
    await blobs.start()
    return blobs


async def test_stream_copy_get_delete(store: DirectoryBlobStore) -> None:
    size = await store.put_stream("incoming/a", chunks(b"ab", b"cd"), "image/jpeg", 10)
    assert size == 4 and await store.get("incoming/a") == b"abcd"
    await store.copy("incoming/a", "originals/a")
    await store.delete("incoming/a")
    assert not await store.exists("incoming/a")
    assert await store.get("originals/a") == b"abcd"
    with pytest.raises(BlobNotFound):
        await store.copy("incoming/missing", "originals/b")


async def test_too_large_keeps_nothing(store: DirectoryBlobStore) -> None:
    with pytest.raises(BlobTooLarge):
        await store.put_stream("incoming/big", chunks(b"x" * 6, b"y" * 6), "image/jpeg", 10)
    assert not await store.exists("incoming/big")
    assert list((store.root / "incoming").iterdir()) == []


async def test_public_path_never_reaches_private_files(store: DirectoryBlobStore) -> None:
    await store.put("public/p/thumbnail.jpg", b"thumb", "image/jpeg")
    await store.put("originals/p", b"secret", "image/jpeg")
    assert store.public_path("public/p/thumbnail.jpg").read_bytes() == b"thumb"
    for key in ("public/../originals/p", "public/p/../../originals/p", "originals/p",
                "public/p/missing.jpg", "public/../../etc/passwd"):
        with pytest.raises((BlobNotFound, InvalidBlobKey)):
            store.public_path(key)
    assert store.public_url("public/p/thumbnail.jpg") == (
        "http://127.0.0.1:8080/media/p/thumbnail.jpg")


CLIMBING_KEYS = ("incoming/../originals/p", "incoming/u/../../originals/p", "../outside",
                 "/etc/passwd", "incoming//p", "incoming/./p", "incoming/.hidden",
                 "incoming\\..\\originals\\p", "incoming/p\x00", "")


@pytest.mark.parametrize("key", CLIMBING_KEYS)
async def test_keys_that_could_climb_are_refused(store: DirectoryBlobStore, key: str) -> None:
    await store.put("originals/p", b"secret", "image/jpeg")
    with pytest.raises(InvalidBlobKey):
        await store.get(key)
    with pytest.raises(InvalidBlobKey):
        await store.copy(key, "originals/q")
    with pytest.raises(InvalidBlobKey):
        await store.delete(key)
    assert await store.get("originals/p") == b"secret"
