"""Backpressure (web.backlog), as clients meet it: while the reactions service leaves likes
unapplied longer than the limit, the edge refuses new ones at once (503, Retry-After) instead
of queueing them behind a growing delay; once the service catches up, likes are accepted
again; every accepted like is applied once and no refused one changes anything.

The session's edge runs with backpressure off (tests there stop workers on purpose); this
module starts an edge of its own with it on, on the same stack and workers. The reactions
worker is stopped (SIGSTOP) for a few seconds, shorter than its Kafka session timeout, so it
applies nothing while the test keeps liking: more likes than it applies.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import AsyncIterator, Iterator

import aiohttp
import pytest

from deploy.local.processes import Worker
from tests.helpers import Api, User, edge_of_its_own, jpeg_with_gps

pytestmark = pytest.mark.slow
MAX_AGE_S = 0.5


@pytest.fixture(scope="module")
def guarded_edge(system: str, system_env: dict[str, str],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with edge_of_its_own("guarded-edge", system_env, {"BACKLOG_MAX_AGE_S": str(MAX_AGE_S)},
                         tmp_path_factory.mktemp("guarded-edge")) as url:
        yield url


@pytest.fixture
async def guarded(guarded_edge: str) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, guarded_edge)


class Toggler:
    """One person liking and unliking one picture, one request at a time, recording what the
    edge answered; its last accepted command decides whether the picture ends up liked."""

    def __init__(self, api: Api, user: User, picture_id: str) -> None:
        self.api, self.user, self.picture_id = api, user, picture_id
        self.liked = False  # by the last accepted command
        self.accepted = 0
        self.refused: list[tuple[int, dict, str]] = []

    async def run(self, until: asyncio.Event) -> None:
        while not until.is_set():
            method = "DELETE" if self.liked else "PUT"
            status, body, answer = await self.api.call(
                method, f"/api/v1/pictures/{self.picture_id}/like", user=self.user)
            if status == 202:
                self.accepted += 1
                self.liked = not self.liked
            else:
                self.refused.append((status, body, answer.headers.get("Retry-After", "")))
                await asyncio.sleep(0.05)


async def drive(togglers: list[Toggler], seconds: float) -> tuple[int, int]:
    """Every toggler at once for ``seconds``; the likes accepted and refused meanwhile."""
    before = sum(t.accepted for t in togglers), sum(len(t.refused) for t in togglers)
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(t.run(stop)) for t in togglers]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    return (sum(t.accepted for t in togglers) - before[0],
            sum(len(t.refused) for t in togglers) - before[1])


async def test_likes_are_refused_while_the_service_is_behind_and_accepted_once_it_catches_up(
        guarded: Api, api: Api, workers: dict[str, Worker]) -> None:
    owner = await api.register("Owner")
    pictures = [(await api.published(owner, jpeg_with_gps(), title=f"Backlog {i}"))["picture_id"]
                for i in range(2)]
    people = [await api.register(f"Liker{i}") for i in range(8)]
    togglers = [Toggler(guarded, person, picture) for person in people for picture in pictures]

    # Likes the service keeps up with (one at a time, each once the last is applied and a
    # second more, for its commit to be seen) are never refused, however slow the machine.
    for toggler in togglers[:5]:
        status, body, _ = await guarded.call("PUT", f"/api/v1/pictures/{toggler.picture_id}/like",
                                             user=toggler.user)
        assert status == 202, body
        toggler.liked, toggler.accepted = True, 1
        status, seen, _ = await api.call(
            "GET", f"/api/v1/pictures/{toggler.picture_id}?after={body['command_id']}"
                   "&wait_ms=10000")
        assert status == 200, seen
        await asyncio.sleep(1.0)

    reactions = workers["reactions"]
    os.kill(reactions.pid, signal.SIGSTOP)
    try:
        accepted_while_stopped, refused_while_stopped = await drive(togglers, 3.0)
    finally:
        os.kill(reactions.pid, signal.SIGCONT)
    # Past the limit the edge stops sending: the likes it took while the service applied
    # nothing are the few of its first moments, the rest are refused with a clear answer.
    assert refused_while_stopped > accepted_while_stopped, (accepted_while_stopped,
                                                            refused_while_stopped)
    status, body, retry = next(r for t in togglers for r in t.refused)
    assert status == 503 and "reactions service is behind" in body["detail"], body
    assert 1 <= int(retry) <= 60

    # Caught up, it accepts again (within the time the backlog takes to apply).
    accepted_after, _ = await drive(togglers, 6.0)
    assert accepted_after > 0

    # Every accepted like applied once, no refused one: each picture's count is the number
    # of people whose last accepted command was a like.
    for picture in pictures:
        want = sum(1 for t in togglers if t.picture_id == picture and t.liked)
        for _ in range(300):
            status, seen, _ = await api.call("GET", f"/api/v1/pictures/{picture}")
            if status == 200 and seen["like_count"] == want:
                break
            await asyncio.sleep(0.1)
        assert seen["like_count"] == want, (picture, seen["like_count"], want)
