"""Long polls: every waiter on one key shares one store check loop; the edge holds at most
so many waiters; cursors are signed."""

from __future__ import annotations

import asyncio

import pytest

from web.problems import Problem
from web.readmodels import LongPolls, TooManyWaiters, decode_cursor, encode_cursor


async def test_waiters_on_one_key_share_one_check_loop() -> None:
    checks = 0
    ready = False

    async def check() -> str | None:
        nonlocal checks
        checks += 1
        return "published" if ready else None

    polls = LongPolls(max_waiters=1000)
    waiters = [asyncio.ensure_future(polls.wait("picture-1", check, 5000)) for _ in range(500)]
    await asyncio.sleep(0.5)
    ready = True
    assert await asyncio.gather(*waiters) == ["published"] * 500
    # One loop polls every 100 ms at most: a handful of checks, not 500 per interval.
    assert checks < 20, checks
    assert polls.checks == checks and polls.waiting == 0 and not polls._polls


async def test_a_waiter_whose_time_runs_out_gets_none_and_others_keep_waiting() -> None:
    ready = False

    async def check() -> bool:
        return ready

    polls = LongPolls(max_waiters=10)
    patient = asyncio.ensure_future(polls.wait("k", check, 2000))
    assert await polls.wait("k", check, 50) is None
    ready = True
    assert await patient is True


async def test_past_the_cap_a_waiter_is_refused_and_a_failure_reaches_every_waiter() -> None:
    async def never() -> None:
        return None

    polls = LongPolls(max_waiters=3)
    held = [asyncio.ensure_future(polls.wait(n, never, 300)) for n in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(TooManyWaiters):
        await polls.wait("one more", never, 300)
    assert await asyncio.gather(*held) == [None] * 3
    assert await polls.wait("now there is room", never, 10) is None

    async def broken() -> None:
        raise ConnectionError("store away")

    results = await asyncio.gather(*(polls.wait("b", broken, 500) for _ in range(2)),
                                   return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


def test_cursors_are_signed_and_a_forged_or_altered_one_is_refused() -> None:
    cursor = encode_cursor("2026-01-01T00:00:00Z", "p1", "key")
    assert decode_cursor(cursor, "key") == ("2026-01-01T00:00:00Z", "p1")
    payload, _, mac = cursor.partition(".")
    forged = encode_cursor("2099-01-01T00:00:00Z", "p9", "guessed key")
    for bad in (forged, forged.partition(".")[0] + "." + mac, payload, payload + ".", "garbage",
                cursor[:-2], "." * 5000):
        with pytest.raises(Problem) as refused:
            decode_cursor(bad, "key")
        assert refused.value.status_code == 400
