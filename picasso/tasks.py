"""Stopping background tasks for sure.

A cancel can be lost: in Python 3.11, ``asyncio.wait_for`` (which aiokafka, aiosmtplib and
others use inside) returns its result when the awaited call finishes at the moment the
cancel arrives, and the task goes on. A loop stopped by one ``cancel()`` then runs for ever
and whoever awaits it hangs (a test's sweeper did so, once in a few hundred runs).
:func:`cancel_all` cancels again until each task has ended.
"""

from __future__ import annotations

import asyncio

RECANCEL_S = 0.1  # how long a task gets to end before it is cancelled again


async def cancel_all(*tasks: asyncio.Future) -> list[BaseException | object]:
    """Cancel ``tasks`` until every one has ended; answers their outcomes as
    ``asyncio.gather(..., return_exceptions=True)`` would (a cancelled task's is its
    CancelledError). A task still cleaning up after a cancel it took is cancelled again
    in that cleanup, so a task stopped here must not await in its ``finally``."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
    return await asyncio.gather(*tasks, return_exceptions=True)
