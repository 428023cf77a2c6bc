"""Background tasks stopped for sure, even when a cancel is lost."""

from __future__ import annotations

import asyncio

from picasso.tasks import cancel_all


async def test_a_loop_that_loses_a_cancel_still_ends() -> None:
    cancels = 0

    async def loop() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                cancels += 1
                if cancels < 3:  # lost, as Python 3.11's wait_for may lose it: go on
                    continue
                raise

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    task.cancel()  # one cancel alone: the loop goes on
    await asyncio.sleep(0.05)
    assert not task.done()
    [outcome] = await asyncio.wait_for(cancel_all(task), 5)
    assert isinstance(outcome, asyncio.CancelledError) and task.cancelled()
    assert cancels == 3


async def test_outcomes_of_ended_tasks_are_kept() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    done = asyncio.create_task(asyncio.sleep(0, result="value"))
    broken = asyncio.create_task(fails())
    forever = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0.01)
    value, error, cancelled = await cancel_all(done, broken, forever)
    assert value == "value" and isinstance(error, ValueError)
    assert isinstance(cancelled, asyncio.CancelledError)
