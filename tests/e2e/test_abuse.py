"""Abuse limits, as an attacker's HTTP client meets them: rate limits (429 with Retry-After,
other callers unaffected), the cap on waiting requests, shared long polls, signed cursors.

The session's edge runs with limits far above what the suite does; these tests start an
edge of their own with low ones, on the same stack and worker.
"""

from __future__ import annotations

import asyncio
import re
from typing import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.helpers import Api, edge_of_its_own, jpeg_with_gps

LIMITS = {
    "RATE_AUTH_PER_ADDRESS_PER_MIN": "6",
    "RATE_AUTH_PER_EMAIL_PER_MIN": "3",
    "RATE_LIKES_PER_USER_PER_MIN": "3",
    "RATE_COMMENTS_PER_USER_PER_MIN": "2",
    "RATE_FOLLOWS_PER_USER_PER_MIN": "2",
    "RATE_UPLOADS_PER_USER_PER_MIN": "2",
    "RATE_PURCHASES_PER_USER_PER_MIN": "2",
    "MAX_LONG_POLL_WAITERS": "20",
}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def strict_edge(system: str, system_env: dict[str, str],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An edge of its own with low limits, next to the session's worker."""
    with edge_of_its_own("strict-edge", system_env, LIMITS,
                         tmp_path_factory.mktemp("strict-edge")) as url:
        yield url


@pytest.fixture
async def strict(strict_edge: str) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, strict_edge)


async def from_address(base: str, address: str) -> aiohttp.ClientSession:
    """A client whose connections come from ``address`` (any 127.x.y.z is this machine)."""
    return aiohttp.ClientSession(base_url=base,
                                 connector=aiohttp.TCPConnector(local_addr=(address, 0)))


def assert_throttled(status: int, body, answer: aiohttp.ClientResponse) -> None:
    assert status == 429, body
    assert answer.content_type == "application/problem+json" and body["status"] == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


async def login(http: aiohttp.ClientSession, email: str, password: str,
                path: str = "/api/v1/auth/login") -> tuple[int, dict, aiohttp.ClientResponse]:
    async with http.post(path, json={"email": email, "password": password}) as answer:
        return answer.status, await answer.json(content_type=None), answer


async def test_sign_in_is_limited_per_email_and_per_address(api: Api, strict_edge: str) -> None:
    victim, other, third = [await api.register(name) for name in ("Vic", "Otto", "Sue")]
    guesser = await from_address(strict_edge, "127.0.0.3")
    elsewhere = await from_address(strict_edge, "127.0.0.4")
    async with guesser, elsewhere:
        for _ in range(3):  # password guessing on one account
            assert (await login(guesser, victim.email, "wrong password"))[0] == 401
        assert_throttled(*await login(guesser, victim.email, "wrong password"))
        # Another account from the same address is not held up by the victim's limit …
        assert (await login(guesser, other.email, PASSWORD))[0] == 200
        assert (await login(guesser, other.email, PASSWORD))[0] == 200
        # … until the address has used its own: sign-in, sign-up and sessions alike.
        assert_throttled(*await login(guesser, other.email, PASSWORD))
        assert_throttled(*await login(guesser, "new@example.com", PASSWORD,
                                      "/api/v1/auth/register"))
        assert_throttled(*await login(guesser, other.email, PASSWORD, "/api/v1/session"))
        # Other addresses are unaffected.
        assert (await login(elsewhere, other.email, PASSWORD))[0] == 200
        status, body, _ = await login(elsewhere, third.email, PASSWORD, "/api/v1/session")
        assert status == 200 and body["signed_in"], body


async def test_likes_uploads_and_purchases_are_limited_per_user(api: Api, strict: Api) -> None:
    ada, bob, carl = await api.register("Ada"), await api.register("Bob"), await api.register(
        "Carl")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=500)
    like = f"/api/v1/pictures/{picture['picture_id']}/like"
    for _ in range(3):
        assert (await strict.call("PUT", like, user=bob))[0] == 202
    assert_throttled(*await strict.call("PUT", like, user=bob))
    assert_throttled(*await strict.call("DELETE", like, user=bob))
    assert (await strict.call("PUT", like, user=carl))[0] == 202

    image = jpeg_with_gps(32, 24)
    for _ in range(2):
        assert (await strict.upload(bob, image))[0] == 202
    status, body = await strict.upload(bob, image)
    assert status == 429, body
    assert (await strict.upload(carl, image))[0] == 202

    # Purchases count whether or not they go through (here: no such picture).
    buy = "/api/v1/pictures/no-such-picture/purchases"
    for _ in range(2):
        assert (await strict.call("POST", buy, user=bob, json={}))[0] == 404
    assert_throttled(*await strict.call("POST", buy, user=bob, json={}))
    assert (await strict.call("POST", buy, user=carl, json={}))[0] == 404


async def test_comments_are_limited_per_user(api: Api, strict: Api) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48))
    comments = f"/api/v1/pictures/{picture['picture_id']}/comments"
    status, added, _ = await strict.call("POST", comments, user=bob, json={"text": "one"})
    assert status == 202, added
    # Deleting counts too (here: a comment the edge does not know yet, or ever).
    assert (await strict.call("DELETE", f"{comments}/no-such-comment", user=bob))[0] == 404
    assert_throttled(*await strict.call("POST", comments, user=bob, json={"text": "two"}))
    assert_throttled(*await strict.call("DELETE", f"{comments}/{added['comment_id']}",
                                        user=bob))
    assert (await strict.call("POST", comments, user=ada, json={"text": "mine"}))[0] == 202


async def test_follows_are_limited_per_user(api: Api, strict: Api) -> None:
    ada, bob, carl = (await api.register("Ada"), await api.register("Bob"),
                      await api.register("Carl"))
    follow = f"/api/v1/users/{ada.user_id}/follow"
    assert (await strict.call("PUT", follow, user=bob))[0] == 202
    # Unfollowing counts too, and so does a refused follow (here: of oneself).
    assert (await strict.call("PUT", f"/api/v1/users/{bob.user_id}/follow", user=bob))[0] == 422
    assert_throttled(*await strict.call("DELETE", follow, user=bob))
    assert_throttled(*await strict.call("PUT", follow, user=bob))
    assert (await strict.call("PUT", follow, user=carl))[0] == 202


async def metric(api: Api, name: str) -> float:
    status, text, _ = await api.call("GET", "/metrics")
    assert status == 200
    found = re.search(rf"^{name} (\S+)$", text.decode(), re.MULTILINE)
    assert found, f"no {name} in /metrics"
    return float(found.group(1))


async def test_waiters_share_one_check_and_past_the_cap_get_503(strict: Api) -> None:
    """Twenty clients waiting 2 s on one picture cost one poll loop (about 20 store checks),
    not twenty (about 400); the twenty-first waiting client is turned away at once."""
    path = "/api/v1/pictures/never-there?wait_ms=2000"
    before = await metric(strict, "picasso_long_poll_checks_total")
    waiting = [asyncio.ensure_future(strict.call("GET", path)) for _ in range(20)]
    for _ in range(100):  # until the edge holds all twenty
        if await metric(strict, "picasso_long_poll_waiters") == 20:
            break
        await asyncio.sleep(0.05)
    status, body, answer = await strict.call("GET", path)
    assert status == 503 and answer.headers["Retry-After"] == "1", body
    assert [status for status, _, _ in await asyncio.gather(*waiting)] == [404] * 20
    checks = await metric(strict, "picasso_long_poll_checks_total") - before
    assert 5 <= checks <= 40, checks
    # Without wait_ms nobody waits, so the cap does not apply.
    assert (await strict.call("GET", "/api/v1/pictures/never-there"))[0] == 404


async def test_a_forged_or_altered_cursor_is_refused(api: Api) -> None:
    ada = await api.register("Ada")
    for title in ("First", "Second"):
        await api.published(ada, jpeg_with_gps(32, 24), title=title)
    path = f"/api/v1/users/{ada.user_id}/pictures?limit=1"
    status, page, _ = await api.call("GET", path)
    assert status == 200 and page["next_cursor"], page
    cursor = page["next_cursor"]
    status, rest, _ = await api.call("GET", f"{path}&cursor={cursor}")
    assert status == 200 and [p["title"] for p in rest["items"]] == ["First"], rest
    payload, _, mac = cursor.partition(".")
    altered = ("A" if payload[0] != "A" else "B") + payload[1:] + "." + mac
    for bad in (altered, payload, "garbage", "eyJhIjoxfQ"):
        status, body, answer = await api.call("GET", f"{path}&cursor={bad}")
        assert status == 400 and answer.content_type == "application/problem+json", body

