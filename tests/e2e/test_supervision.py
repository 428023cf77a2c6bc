"""Crashes under load, kept running by ``make run``'s supervisor, with exact outcomes.

Each test runs its own broker (a one-server stack) so that killing it does not disturb the
other tests, and its own worker and edge on it; the session's MongoDB, MariaDB, Firebase
emulator and the rest are shared. The supervisor is the one ``make run`` uses
(:class:`deploy.local.supervisor.Supervisor`), ticking in a thread as the launcher does.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from deploy.local.processes import (
    Edge,
    Worker,
    domain_workers,
    faust_command,
    migrate,
    stop_all,
)
from deploy.local.stack import Stack, free_ports
from deploy.local.supervisor import Supervisor
from picasso.domains import DOMAINS
from picasso.kafka import ensure_topics
from picasso.mongo import LIKE_COUNTS, LIKED, LIKES
from picasso.settings import Settings
from tests.e2e.test_mail import wait_for_mails
from tests.helpers import Api, User, jpeg_with_gps, produce
from topics import REACTIONS_COMMANDS
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE

# Each test starts a broker, an edge and a worker of every service of its own (a minute on
# a busy machine) before its own waits: the suite's 300 s guard against a hang is too
# short for that on a loaded CI machine (seen there), so these have twice as long.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@dataclass
class System:
    """A broker of its own, one worker of each service and one edge on it, and the
    supervisor over them."""

    broker: Stack
    workers: dict[str, Worker]
    edge: Edge
    supervisor: Supervisor
    settings: Settings
    env: dict[str, str]
    log: list[str] = field(default_factory=list)

    @property
    def worker(self) -> Worker:
        """The reactions service's worker, which applies the likes."""
        return self.workers["reactions"]


@pytest.fixture
def own_system(stack: Stack, system_env: dict[str, str], tmp_path: Path) -> Iterator[System]:
    run = uuid.uuid4().hex[:8]
    log: list[str] = []
    broker = Stack(tmp_path / "broker", ports=free_ports(["kafka"]), services=["kafka"],
                   log=log.append)
    broker.start()
    env = {**system_env, **broker.env(), "PICASSO_DATA_DIR": system_env["PICASSO_DATA_DIR"],
           "PICASSO_APP_ID": f"picasso-sup-{run}", "MONGODB_DATABASE": f"sup_{run}",
           "EDGE_PORT": str(free_ports(["edge"])["edge"])}
    settings = Settings.from_env(env)
    asyncio.run(ensure_topics(settings))
    migrate(env)
    workers = domain_workers(dict.fromkeys(DOMAINS, 1), env, tmp_path, tmp_path / "faust",
                             prefix=f"sup-{run}-")
    edge = Edge(f"sup-edge-{run}", env, tmp_path / "edge.log")
    supervisor = Supervisor(broker, [*workers, edge], env, log=log.append)
    try:
        for process in [*workers, edge]:
            process.start()
        for process in [*workers, edge]:
            process.wait_ready()
        with supervisor.ticking():
            yield System(broker, {w.domain: w for w in workers}, edge, supervisor, settings,
                         env, log)
    finally:
        stop_all([edge, *workers])
        broker.stop()
        asyncio.run(_drop(settings))


async def _drop(settings: Settings) -> None:
    client = AsyncIOMotorClient(settings.mongodb_url)
    await client.drop_database(settings.mongodb_database)


async def _likers_and_pictures(api: Api, users: int, pictures: int) -> tuple[list[User],
                                                                             list[str]]:
    owner = await api.register("Owner")
    made = [await api.published(owner, jpeg_with_gps(64 + n, 48)) for n in range(pictures)]
    likers = await asyncio.gather(*(api.register(f"Liker{n}") for n in range(users)))
    return list(likers), [p["picture_id"] for p in made]


async def _like(api: Api, user: User, picture_id: str) -> int:
    status, body, answer = await api.call("PUT", f"/api/v1/pictures/{picture_id}/like",
                                          user=user)
    if status == 503:  # the broker is away: nothing was changed, and the client is told when
        assert answer.headers["Retry-After"] == "2" and "try again" in body["detail"], body
    return status


async def _counts(settings: Settings, pictures: list[str]) -> tuple[dict, dict]:
    db = AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]
    counts = {d["_id"]: d["like_count"]
              async for d in db[LIKE_COUNTS].find({"_id": {"$in": pictures}})}
    docs: dict[str, set[str]] = {p: set() for p in pictures}
    async for like in db[LIKES].find({"picture_id": {"$in": pictures}, **LIKED}):
        docs[like["picture_id"]].add(like["user_id"])
    return counts, docs


async def _missing(s: System, expected: dict[str, set[str]], pictures: list[str]) -> str:
    """What a failed wait for every accepted like needs to be understood from CI's output:
    the pairs missing or extra, the counts against the likes, and the supervisor's lines."""
    counts, docs = await _counts(s.settings, pictures)
    told = [f"picture {p}: count {counts.get(p)}, {len(docs[p])} likes, "
            f"{len(expected[p])} accepted; missing {sorted(expected[p] - docs[p])}, "
            f"extra {sorted(docs[p] - expected[p])}" for p in pictures]
    return "\n".join([*told, *[line for line in s.log if "supervisor" in line]])


async def _until(check, timeout_s: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.25)
    return await check()


async def test_a_worker_killed_in_a_like_storm_is_restarted_and_every_accepted_like_counts(
        own_system: System) -> None:
    s = own_system
    async with aiohttp.ClientSession() as http:
        api = Api(http, s.edge.url)
        likers, pictures = await _likers_and_pictures(api, users=40, pictures=5)
        storm = [(u, p) for u in likers for p in pictures]
        random.Random(3).shuffle(storm)
        accepted: list[tuple[User, str]] = []
        gate = asyncio.Semaphore(16)
        killed = asyncio.Event()

        async def like(user: User, picture_id: str) -> None:
            async with gate:
                if await _like(api, user, picture_id) == 202:
                    accepted.append((user, picture_id))
                if len(accepted) >= len(storm) // 2 and not killed.is_set():
                    killed.set()
                    s.worker.kill()  # SIGKILL halfway through the storm

        await asyncio.gather(*(like(u, p) for u, p in storm))
        assert killed.is_set()
        # The edge kept accepting while the worker was down: every like was accepted.
        assert len(accepted) == len(storm)
        expected = {p: {u.user_id for u, q in accepted if q == p} for p in pictures}

        async def all_applied() -> bool:
            counts, docs = await _counts(s.settings, pictures)
            return docs == expected and counts == {p: len(v) for p, v in expected.items()}

        assert await _until(all_applied, 90), await _counts(s.settings, pictures)
    assert s.supervisor.restarts == {s.worker.name: 1}
    assert any("was killed by signal 9" in line for line in s.log), s.log
    # Nothing is pending: the drain `make run` does on Ctrl-C finds the work all applied.
    lag = await asyncio.create_subprocess_exec(
        *faust_command("reactions"), "lag", "--wait", "30", env=s.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(lag.communicate(), 90)
    assert lag.returncode == 0, out.decode()
    assert "lag: reactions: 0 accepted message(s) not applied yet" in out.decode()


async def _lag(env: dict[str, str], domain: str, wait_s: float = 0) -> tuple[int, str]:
    """``faust -A agents.<domain>.app lag``: its exit status (1: work pending) and output."""
    lag = await asyncio.create_subprocess_exec(
        *faust_command(domain), "lag", "--wait", str(wait_s), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(lag.communicate(), 90)
    return lag.returncode, out.decode()


def _take_down(s: System, domain: str) -> Worker:
    """Stop a service's worker and keep it stopped (the supervisor no longer watches it)."""
    worker = s.workers[domain]
    s.supervisor.unwatch(worker.name)
    worker.stop()
    return worker


async def test_a_service_that_is_down_holds_up_no_other_and_catches_up_when_back(
        own_system: System, stack: Stack) -> None:
    """Mail down: likes flow. Reactions down: uploads, purchases and mail flow, the likes
    wait in their topic, and are all applied once the reactions service is back."""
    s = own_system
    async with aiohttp.ClientSession() as http:
        api = Api(http, s.edge.url)
        likers, pictures = await _likers_and_pictures(api, users=12, pictures=3)
        mail = _take_down(s, "mail")
        latecomer = await api.register("Latecomer")  # their welcome waits for mail
        statuses = await asyncio.gather(*(_like(api, u, p) for u in likers for p in pictures))
        assert set(statuses) == {202}
        liked = {p: {u.user_id for u in likers} for p in pictures}

        async def applied(expected: dict[str, set[str]]) -> bool:
            counts, docs = await _counts(s.settings, pictures)
            return docs == expected and counts == {p: len(v) for p, v in expected.items()}

        assert await _until(lambda: applied(liked), 60), await _counts(s.settings, pictures)
        assert (await _lag(s.env, "mail"))[0] == 1  # mail's events wait for it

        reactions = _take_down(s, "reactions")
        mail.start()
        mail.wait_ready()
        # Unlikes are accepted and wait; the other services go on meanwhile.
        unlikes = await asyncio.gather(*(
            api.call("DELETE", f"/api/v1/pictures/{pictures[0]}/like", user=u) for u in likers))
        assert {status for status, _, _ in unlikes} == {202}
        owner = await api.register("Seller")
        buyer = await api.register("Buyer")
        free = await api.published(owner, jpeg_with_gps(90, 60), title="Free while likes wait")
        status, bought, _ = await api.call(
            "POST", f"/api/v1/pictures/{free['picture_id']}/purchases", user=buyer, json={})
        assert status == 202, bought
        for _ in range(120):
            status, purchase, _ = await api.call(
                "GET", f"/api/v1/purchases/{bought['purchase_id']}?wait_ms=1000", user=buyer)
            if purchase.get("status") == "completed":
                break
        assert purchase["status"] == "completed", purchase
        mails = await wait_for_mails(stack.maildir, buyer.email, {"welcome", "receipt"})
        assert {"welcome", "receipt"} <= set(mails), mails
        # Mail caught up with what happened while it was down.
        assert "welcome" in await wait_for_mails(stack.maildir, latecomer.email, {"welcome"})
        code, out = await _lag(s.env, "reactions")
        assert code == 1 and "accepted message(s) not applied yet" in out, out
        assert await _counts(s.settings, pictures) == (
            {p: len(v) for p, v in liked.items()}, liked)  # nothing applied while down

        reactions.start()
        reactions.wait_ready()
        caught_up = {**liked, pictures[0]: set()}
        assert await _until(lambda: applied(caught_up), 60), await _counts(s.settings, pictures)
    # Its offsets committed too (Faust commits every few seconds).
    assert (await _lag(s.env, "reactions", wait_s=30))[0] == 0


async def test_the_broker_killed_with_commands_in_flight_comes_back_and_loses_nothing(
        own_system: System) -> None:
    s = own_system
    async with aiohttp.ClientSession() as http:
        api = Api(http, s.edge.url)
        likers, pictures = await _likers_and_pictures(api, users=30, pictures=4)
        storm = [(u, p) for u in likers for p in pictures]
        random.Random(5).shuffle(storm)
        before, after = storm[: len(storm) // 2], storm[len(storm) // 2:]
        statuses: list[int] = []
        gate = asyncio.Semaphore(16)

        async def like(user: User, picture_id: str) -> int:
            async with gate:
                status = await _like(api, user, picture_id)
                statuses.append(status)
                return status

        # Half the storm in flight while the broker is killed.
        first = asyncio.gather(*(like(u, p) for u, p in before))
        await asyncio.sleep(0.3)
        s.broker.kill_service("kafka")
        accepted_before = [(u, p) for (u, p), status in zip(before, await first)
                           if status == 202]

        async def broker_back() -> bool:
            return s.broker.running("kafka") and s.supervisor.restarts.get("kafka") == 1

        # Back means restarted and refilled: the edges' journal replayed and every service's
        # recorded events sent again, by a process per service (on a busy 2-core machine
        # their start-up alone took 30 s in CI).
        assert await _until(broker_back, 120), s.log
        # The rest after it is back; the edge answers 503 until its producer reconnects,
        # and a client tries again, as API.md says for 503.
        accepted_after: list[tuple[User, str]] = []
        for user, picture_id in after:
            for _ in range(60):
                status = await like(user, picture_id)
                if status == 202:
                    accepted_after.append((user, picture_id))
                    break
                assert status == 503, status
                await asyncio.sleep(0.5)
        assert len(accepted_after) == len(after)
        assert set(statuses) <= {202, 503}

        # Every like the edge accepted counts, those the dead broker held included: the
        # edge's journal put them back on the new broker.
        accepted = accepted_before + accepted_after
        expected = {p: {u.user_id for u, q in accepted if q == p} for p in pictures}

        async def all_applied() -> bool:
            counts, docs = await _counts(s.settings, pictures)
            return docs == expected and counts == {p: len(v) for p, v in expected.items()}

        assert await _until(all_applied, 90), await _missing(s, expected, pictures)
        assert any("accepted message(s) put back on the broker" in line for line in s.log)
    # The edge found the new broker by itself; the worker was stopped while the broker
    # came back and started again on it (its consumer state belonged to the dead broker).
    # Every service's workers were held while the broker came back, and started again once.
    assert s.supervisor.restarts == {"kafka": 1, **{w.name: 1 for w in s.workers.values()}}
    assert any("stopped until the broker is back" in line for line in s.log), s.log
    assert all(w.running() for w in s.workers.values()) and s.edge.running()


async def test_lag_counts_accepted_commands_no_worker_has_applied(
        system_env: dict[str, str], tmp_path: Path) -> None:
    """With no worker running, the drain check sees every accepted command as pending."""
    broker = Stack(tmp_path / "broker", ports=free_ports(["kafka"]), services=["kafka"],
                   log=lambda line: None)
    broker.start()
    try:
        env = {**system_env, "KAFKA_BOOTSTRAP": broker.env()["KAFKA_BOOTSTRAP"],
               "PICASSO_APP_ID": f"picasso-lag-{uuid.uuid4().hex[:8]}"}
        settings = Settings.from_env(env)
        await ensure_topics(settings)
        topic = REACTIONS_COMMANDS.name(settings.topic_prefix)
        likes = [CloudEvent(type=LIKE_PICTURE.type, subject="p", source="/tests",
                            data={"picture_id": "p", "user_id": f"u{n}"}) for n in range(5)]
        for like in likes:
            await produce(settings.kafka_bootstrap, topic, like.to_json(), b"p")
        lag = await asyncio.create_subprocess_exec(
            *faust_command("reactions"), "lag", "--wait", "2", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(lag.communicate(), 60)
    finally:
        broker.stop()
    assert lag.returncode == 1, out.decode()
    assert f"lag: reactions: 5 accepted message(s) not applied yet: {topic}[" in out.decode()
