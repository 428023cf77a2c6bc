"""The directory blob store: atomic writes, size limits, and public files only from public/."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from picasso.blobs import (
    BlobNotFound,
    BlobTooLarge,
    DirectoryBlobStore,
    InvalidBlobKey,
    InvalidDownload,
)


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


async def test_media_file_never_reaches_private_files(store: DirectoryBlobStore) -> None:
    await store.put("public/p/thumbnail.jpg", b"thumb", "image/jpeg")
    await store.put("originals/p", b"secret", "image/jpeg")
    assert store.media_file("public/p/thumbnail.jpg").read_bytes() == b"thumb"
    for key in ("public/../originals/p", "public/p/../../originals/p", "originals/p",
                "public/p/missing.jpg", "public/../../etc/passwd"):
        with pytest.raises((BlobNotFound, InvalidBlobKey)):
            store.media_file(key)
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


async def test_the_directory_store_signs_download_links_and_checks_them(tmp_path) -> None:
    store = DirectoryBlobStore(tmp_path / "b", "http://edge/media",
                               downloads_url="https://picasso.example/api/v1/downloads",
                               signing_key="k" * 32)
    url = urlsplit(await store.download_url("originals/p1", "p1", 60))
    assert f"{url.scheme}://{url.netloc}{url.path}" == \
        "https://picasso.example/api/v1/downloads/p1"
    query = dict(parse_qsl(url.query))
    assert query["key"] == "originals/p1"
    assert store.verified_download("originals/p1", query["expires"], "p1",
                                   query["signature"]) == "originals/p1"
    forged = [("originals/p2", query["expires"], "p1", query["signature"]),  # another key
              ("originals/p1", str(int(query["expires"]) + 60), "p1", query["signature"]),
              ("originals/p1", query["expires"], "x.jpg", query["signature"]),
              ("originals/p1", "soon", "p1", query["signature"]),
              ("originals/p1", query["expires"], "p1", "é" * 64)]
    for key, expires, filename, signature in forged:
        with pytest.raises(InvalidDownload, match="not valid"):
            store.verified_download(key, expires, filename, signature)
    expired = urlsplit(await store.download_url("originals/p1", "p1", -1))
    query = dict(parse_qsl(expired.query))
    with pytest.raises(InvalidDownload, match="expired"):
        store.verified_download("originals/p1", query["expires"], "p1", query["signature"])
    other = DirectoryBlobStore(tmp_path / "b", "", downloads_url="x", signing_key="j" * 32)
    with pytest.raises(InvalidDownload):
        other.verified_download("originals/p1", query["expires"], "p1", query["signature"])
