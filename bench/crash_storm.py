"""Reliability figures: a like storm with a crash in the middle, accepted against applied.

As a new user tried it: 300 people each like one picture over HTTP, and halfway through
the storm a process is killed with SIGKILL while ``make run``'s supervisor
(:class:`deploy.local.supervisor.Supervisor`) watches. Two runs, each on a fresh system:

- the worker is killed: every like the edge accepted (202) must be applied, once;
- the broker is killed: what the local broker held and the worker had not applied yet is
  what a broker crash can lose (README, "Reliability"); the rest must be exact.

Printed: likes accepted (202), refused (503, to be tried again), applied, lost, applied
twice, and the seconds from the kill until the last accepted like was visible.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
from motor.motor_asyncio import AsyncIOMotorClient

from bench.system import System, machine, running
from deploy.local.supervisor import Supervisor
from picasso.mongo import LIKE_COUNTS, LIKED, LIKES
from tests.helpers import Api, User, jpeg_with_gps

USERS = 300
CONCURRENCY = 16


async def _storm(system: System, kill: Callable[[], None]) -> dict:
    async with aiohttp.ClientSession() as http:
        api = Api(http, system.edge_url)
        owner = await api.register("Owner")
        picture_id = (await api.published(owner, jpeg_with_gps(64, 48)))["picture_id"]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def register(n: int) -> User:
            async with gate:
                return await api.register(f"Fan{n}")

        fans = await asyncio.gather(*(register(n) for n in range(USERS)))
        accepted: list[str] = []
        refused = 0
        killed_at: list[float] = []

        async def like(user: User) -> None:
            nonlocal refused
            async with gate:
                status, _, _ = await api.call("PUT", f"/api/v1/pictures/{picture_id}/like",
                                              user=user)
            if status == 202:
                accepted.append(user.user_id)
            else:
                refused += 1
            if len(accepted) + refused >= USERS // 2 and not killed_at:
                killed_at.append(time.monotonic())
                kill()

        await asyncio.gather(*(like(user) for user in fans))

    db = AsyncIOMotorClient(system.settings.mongodb_url)[system.settings.mongodb_database]
    deadline = time.monotonic() + 90
    visible_at = None
    while time.monotonic() < deadline:
        likers = [d["user_id"] async for d in db[LIKES].find({"picture_id": picture_id, **LIKED})]
        if set(accepted) <= set(likers):
            visible_at = time.monotonic()
            break
        await asyncio.sleep(0.25)
    likers = [d["user_id"] async for d in db[LIKES].find({"picture_id": picture_id, **LIKED})]
    count = (await db[LIKE_COUNTS].find_one({"_id": picture_id}) or {}).get("like_count", 0)
    return {
        "accepted": len(accepted),
        "refused_503": refused,
        "applied": len(set(likers) & set(accepted)),
        "lost": len(set(accepted) - set(likers)),
        "applied_twice": len(likers) - len(set(likers)),
        "like_count": count,
        "count_exact": count == len(set(likers)),
        "recovered_s": round(visible_at - killed_at[0], 1) if visible_at and killed_at else None,
    }


def _supervised(system: System, kill: Callable[[System], None]) -> tuple[dict, dict]:
    supervisor = Supervisor(system.stack, [*system.workers, *system.edges], system.env,
                            log=lambda line: print(f"  {line}", flush=True))
    with supervisor.ticking():
        figures = asyncio.run(_storm(system, lambda: kill(system)))
    return figures, supervisor.restarts


def main() -> dict:
    print(f"machine: {machine()}; {USERS} users each like one picture, "
          f"{CONCURRENCY} at a time; SIGKILL halfway", flush=True)
    results = {}
    for name, kill in (("reactions worker", lambda s: next(
            w for w in s.workers if w.domain == "reactions").kill()),
                       ("broker", lambda s: s.stack.kill_service("kafka"))):
        with running(workers=1, edges=1) as system:
            figures, restarts = _supervised(system, kill)
        figures["restarts"] = restarts
        print(f"{name} killed: {figures}", flush=True)
        results[f"{name}_killed"] = figures
    return results


if __name__ == "__main__":
    main()
