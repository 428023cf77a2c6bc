"""The edge's feed page cache: one load for concurrent readers, stale pages served while
one reload runs, failures not kept."""

from __future__ import annotations

import asyncio

import pytest

from web.readmodels import PageCache


async def test_concurrent_misses_share_one_load() -> None:
    loads = 0

    async def load() -> dict:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return {"items": [loads]}

    cache = PageCache(ttl_s=60, max_bytes=1 << 20)
    pages = await asyncio.gather(*(cache.get(("k",), load) for _ in range(20)))
    assert loads == 1 and all(p == {"items": [1]} for p in pages)
    assert await cache.get(("k",), load) == {"items": [1]}  # still fresh
    assert await cache.get(("other",), load) == {"items": [2]}


async def test_pages_expire_and_zero_turns_caching_off() -> None:
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    cache = PageCache(ttl_s=0.05, max_bytes=1 << 20)
    assert [await cache.get("k", load), await cache.get("k", load)] == [1, 1]
    await asyncio.sleep(0.06)
    assert await cache.get("k", load) == 1  # past its time: served while it reloads
    await asyncio.sleep(0.01)
    assert await cache.get("k", load) == 2
    await asyncio.sleep(0.05 * PageCache.STALE_FACTOR + 0.01)
    assert await cache.get("k", load) == 3  # too old to serve: the reader waits
    off = PageCache(ttl_s=0, max_bytes=1 << 20)
    assert [await off.get("k", load), await off.get("k", load)] == [4, 5]


async def test_a_failed_load_is_not_kept_and_a_reader_giving_up_does_not_stop_it() -> None:
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.02)
        if attempts == 1:
            raise ConnectionError("database away")
        return "page"

    cache = PageCache(ttl_s=60, max_bytes=1 << 20)
    with pytest.raises(ConnectionError):
        await cache.get("k", flaky)
    impatient = asyncio.create_task(cache.get("k", flaky))
    await asyncio.sleep(0.005)
    impatient.cancel()
    assert await cache.get("k", flaky) == "page"
    assert attempts == 2


async def test_the_cache_holds_at_most_its_bytes_whatever_keys_callers_choose() -> None:
    """A caller cycling through made-up tags or owners cannot grow the edge's memory."""
    cache = PageCache(ttl_s=60, max_bytes=100_000)

    async def load() -> bytes:
        return b"x" * 1000

    for n in range(10_000):  # 10 MB of pages offered
        await cache.get(("tag", f"made-up-{n}"), load, len)
    assert cache.bytes <= 100_000
    assert cache.bytes == sum(entry[2] for entry in cache._pages.values())
    assert 50 < len(cache._pages) < 100  # the newest ones, each about 1 kB with its key
    assert ("tag", "made-up-9999") in cache._pages and ("tag", "made-up-0") not in cache._pages

    async def huge() -> bytes:
        return b"x" * 200_000

    assert await cache.get("huge", huge, len) == b"x" * 200_000  # served, never kept
    assert "huge" not in cache._pages and cache.bytes <= 100_000
