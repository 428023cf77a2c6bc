"""Batches of a Faust stream that sleep while nothing arrives.

Faust's ``take``/``noack_take`` wake up every ``within`` seconds whether or not anything
arrived: with ``within`` at 20 ms every agent of every idle worker woke 50 times a second,
each time through mode's task-making ``wait_first``, which is what an idle ``make run`` (a
dozen workers) and the test sessions spent most of their CPU on. Here the first message of a
batch is awaited with no timer at all; from it, the batch gathers what else arrives for up to
``within`` seconds (or until it holds ``most``), so a lone command waits no longer than it did.

Messages keep arriving while the previous batch is applied (up to ``most`` are held; the
stream waits for room beyond that): the next batch is ready when the last one is done.

Events are handed over unacknowledged, as ``noack_take`` does: the caller acknowledges each
once it is applied. Those still held when the stream stops (a rebalance, a shutdown) were
never acknowledged, so they are delivered again.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import faust
from mode.utils.aiter import aiter


async def batches(stream: faust.StreamT, most: int, within: float
                  ) -> AsyncIterator[list[faust.EventT]]:
    """Lists of up to ``most`` events of ``stream``, the first awaited without a timer and
    the rest gathered for at most ``within`` seconds after it."""
    held: list[faust.EventT] = []
    arrived = asyncio.Event()  # held is not empty
    full = asyncio.Event()  # held has ``most``
    room = asyncio.Event()  # held has fewer than ``most``
    room.set()

    async def hold(value: Any) -> Any:
        # A processor: the stream's own background reader calls it for each message.
        while len(held) >= most:
            await room.wait()
        event = stream.current_event
        if event is None:
            raise RuntimeError("a batch found the stream's current event missing")
        held.append(event)
        arrived.set()
        if len(held) >= most:
            room.clear()
            full.set()
        return value

    acks = stream.enable_acks
    stream.enable_acks = False  # acknowledged by the caller, once applied
    stream.add_processor(hold)
    # The stream is read in the background by Faust's passive reader, which runs the
    # processors (as noack_take has it read); private in Faust, pinned in requirements.lock.
    stream._enable_passive(aiter(stream.channel))  # noqa: SLF001
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(arrived)
            if not held:
                continue
            if len(held) < most:
                await stream.wait_for_stopped(full, timeout=within)
            batch = held[:]
            held.clear()
            arrived.clear()
            full.clear()
            room.set()
            yield batch
    finally:
        stream.enable_acks = acks
        stream._processors.remove(hold)  # noqa: SLF001
