"""The edge's per-reader marks cache (web.readmodels.ReaderMarks): kept per reader and
page, forgotten when the reader's likes or purchases change, never keeping what a load
read before such a change, and held to its bytes."""

from __future__ import annotations

import asyncio

from web.readmodels import Marks, ReaderMarks


def _loader(state: dict[str, set[str]]):
    loads = []

    async def load() -> Marks:
        loads.append(1)
        liked = frozenset(state["liked"])
        await asyncio.sleep(0.01)  # the read models answer later
        return Marks(liked, frozenset())

    return load, loads


async def test_marks_are_kept_per_reader_and_page_until_forgotten() -> None:
    state = {"liked": {"p1"}}
    load, loads = _loader(state)
    cache = ReaderMarks(ttl_s=60, max_bytes=1 << 20)
    first = await cache.get("ann", ("p1", "p2"), load)
    assert first.liked == {"p1"}
    assert await cache.get("ann", ("p1", "p2"), load) is first and len(loads) == 1
    await cache.get("bob", ("p1", "p2"), load)  # another reader: their own load
    await cache.get("ann", ("p3",), load)  # another page: its own load
    assert len(loads) == 3
    state["liked"] = {"p1", "p2"}
    cache.forget("ann")  # the edge saw ann's like go by
    assert (await cache.get("ann", ("p1", "p2"), load)).liked == {"p1", "p2"}
    assert len(loads) == 4


async def test_a_load_that_began_before_a_change_is_not_kept() -> None:
    state = {"liked": set()}
    load, loads = _loader(state)
    cache = ReaderMarks(ttl_s=60, max_bytes=1 << 20)
    stale = asyncio.ensure_future(cache.get("ann", ("p1",), load))
    await asyncio.sleep(0)  # the load has read the old state
    state["liked"] = {"p1"}
    cache.forget("ann")
    assert (await stale).liked == frozenset()  # its own reader gets what it read...
    assert (await cache.get("ann", ("p1",), load)).liked == {"p1"}  # ...but no one after
    assert len(loads) == 2


async def test_marks_expire_and_zero_turns_the_cache_off() -> None:
    load, loads = _loader({"liked": set()})
    cache = ReaderMarks(ttl_s=0.05, max_bytes=1 << 20)
    await cache.get("ann", ("p1",), load)
    await cache.get("ann", ("p1",), load)
    assert len(loads) == 1
    await asyncio.sleep(0.11)  # past twice ttl_s: loaded again before it is served
    await cache.get("ann", ("p1",), load)
    assert len(loads) == 2
    off = ReaderMarks(ttl_s=0, max_bytes=1 << 20)
    await off.get("ann", ("p1",), load)
    await off.get("ann", ("p1",), load)
    assert len(loads) == 4


async def test_the_readers_read_longest_ago_go_first_past_max_bytes() -> None:
    load, _ = _loader({"liked": set()})
    cache = ReaderMarks(ttl_s=60, max_bytes=3000)
    for reader in ("ann", "bob", "cid"):
        marks = await cache.get(reader, ("p1",), load)
        marks.body = b"x" * 800
        cache.weigh(reader)
    assert cache.bytes == 3 * (800 + 200)
    await cache.get("ann", ("p1",), load)  # ann read again: bob is now the oldest
    marks = await cache.get("dan", ("p1",), load)
    marks.body = b"x" * 800
    cache.weigh("dan")
    assert cache.bytes <= 3000
    assert set(cache._readers) == {"ann", "cid", "dan"}
    cache.forget("ann")
    assert cache.bytes == 2 * (800 + 200)


async def test_marks_past_their_time_are_served_while_one_reload_runs() -> None:
    state = {"liked": set()}
    load, loads = _loader(state)
    cache = ReaderMarks(ttl_s=0.05, max_bytes=1 << 20)
    old = await cache.get("ann", ("p1",), load)
    state["liked"] = {"p1"}  # a change this edge did not see go by
    await asyncio.sleep(0.06)
    # Past ttl_s: the kept marks at once, from every reader at once, and one reload.
    assert all(m is old for m in await asyncio.gather(
        *(cache.get("ann", ("p1",), load) for _ in range(5))))
    assert len(loads) == 2
    await asyncio.sleep(0.02)  # the reload is done
    assert (await cache.get("ann", ("p1",), load)).liked == {"p1"}
    assert len(loads) == 2
    # Past twice ttl_s: nothing that old is served; the reader waits for a load.
    state["liked"] = set()
    await asyncio.sleep(0.11)
    assert (await cache.get("ann", ("p1",), load)).liked == frozenset()
    assert len(loads) == 3


async def test_a_reload_that_began_before_a_change_is_not_kept() -> None:
    state = {"liked": set()}
    load, loads = _loader(state)
    cache = ReaderMarks(ttl_s=0.05, max_bytes=1 << 20)
    await cache.get("ann", ("p1",), load)
    await asyncio.sleep(0.06)
    await cache.get("ann", ("p1",), load)  # served as kept; the reload reads the old state
    await asyncio.sleep(0)
    state["liked"] = {"p1"}
    cache.forget("ann")  # the edge saw ann's like go by
    await asyncio.sleep(0.02)  # the reload is done, into entries forget dropped
    assert (await cache.get("ann", ("p1",), load)).liked == {"p1"}
    assert len(loads) == 3
