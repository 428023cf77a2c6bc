"""Browser sessions over HTTP against the real edge: HttpOnly cookies, CSRF on writes,
refresh before expiry, sign-out; and the UI's page and files."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from tests.helpers import Api
from web.sessions import CSRF_COOKIE, CSRF_HEADER, ID_COOKIE, REFRESH_COOKIE

PASSWORD = "correct horse battery"


class Browser:
    """An HTTP client that keeps cookies as a browser does (on 127.0.0.1 too)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    def cookie(self, name: str, path: str = "/api/v1/me") -> str | None:
        found = self.http.cookie_jar.filter_cookies(URL(self.base + path))
        return found[name].value if name in found else None

    def csrf(self) -> dict[str, str]:
        return {CSRF_HEADER: self.cookie(CSRF_COOKIE) or ""}

    async def request(self, method: str, path: str, **kwargs) -> tuple[int, dict | None,
                                                                      aiohttp.ClientResponse]:
        async with self.http.request(method, self.base + path, allow_redirects=False,
                                     **kwargs) as answer:
            raw = await answer.read()
            return answer.status, json.loads(raw) if raw else None, answer

    async def sign_up(self, name: str = "Ada") -> tuple[str, dict]:
        email = f"{name.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        status, body, answer = await self.request("POST", "/api/v1/session/register", json={
            "email": email, "password": PASSWORD, "display_name": name})
        assert status == 201, body
        return email, body


@pytest.fixture
async def browser(system: str) -> AsyncIterator[Browser]:
    b = Browser(system)
    yield b
    await b.http.close()


def _expired(id_token: str) -> str:
    """The same token with its ``exp`` in the past (its signature no longer matters: the
    edge must refresh it before using it)."""
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] = int(time.time()) - 10
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{encoded}.{signature}"


async def test_sign_up_keeps_the_tokens_in_httponly_cookies(browser: Browser) -> None:
    email, body = await browser.sign_up("Ada")
    assert body["signed_in"] is True and body["user"]["email"] == email
    assert body["user"]["display_name"] == "Ada"
    assert "id_token" not in body and "refresh_token" not in body
    assert body["csrf_token"] == browser.cookie(CSRF_COOKIE)
    assert browser.cookie(ID_COOKIE) and browser.cookie(REFRESH_COOKIE)
    # The token cookies go to the API only; the CSRF cookie is readable by every page.
    assert browser.cookie(ID_COOKIE, path="/app/upload") is None
    assert browser.cookie(CSRF_COOKIE, path="/app/upload")

    status, again, answer = await browser.request("POST", "/api/v1/session", json={
        "email": email, "password": PASSWORD})
    assert status == 200 and again["user"]["email"] == email
    cookies = answer.cookies
    for name in (ID_COOKIE, REFRESH_COOKIE):
        morsel = cookies[name]
        assert morsel["httponly"] and morsel["samesite"] == "Strict", morsel.OutputString()
        assert morsel["path"] == "/api/v1"
    assert not cookies[CSRF_COOKIE]["httponly"] and cookies[CSRF_COOKIE]["samesite"] == "Strict"
    assert answer.headers["Cache-Control"] == "no-store"

    status, me, _ = await browser.request("GET", "/api/v1/me")
    assert status == 200 and me["email"] == email
    status, session, _ = await browser.request("GET", "/api/v1/session")
    assert session["signed_in"] is True and session["user"]["user_id"] == me["user_id"]


async def test_writes_with_the_session_need_the_csrf_token(browser: Browser) -> None:
    await browser.sign_up("Bob")
    like = "/api/v1/pictures/no-such-picture/like"
    status, body, _ = await browser.request("PUT", like)
    assert status == 403 and CSRF_HEADER in body["detail"]
    status, body, _ = await browser.request("PUT", like, headers={CSRF_HEADER: "forged"})
    assert status == 403
    status, body, _ = await browser.request(
        "PUT", like, headers={**browser.csrf(), "Origin": "http://elsewhere.example"})
    assert status == 403 and "elsewhere.example" in body["detail"]
    status, body, _ = await browser.request(
        "PUT", like, headers={**browser.csrf(), "Sec-Fetch-Site": "cross-site"})
    assert status == 403
    # With the token (and the edge's own origin) the write gets past sign-in and CSRF.
    status, body, _ = await browser.request(
        "PUT", like, headers={**browser.csrf(), "Origin": browser.base})
    assert status == 404, body
    # Reads need no token.
    status, _, _ = await browser.request("GET", "/api/v1/me/purchases")
    assert status == 200


async def test_bearer_clients_are_not_asked_for_csrf(system: str) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(http, system)
        ada = await api.register("Ada")
        status, body, _ = await api.call("PUT", "/api/v1/pictures/no-such-picture/like",
                                         user=ada)
        assert status == 404, body


async def test_the_session_is_started_only_from_the_edges_own_pages(browser: Browser) -> None:
    email, _ = await browser.sign_up("Cy")
    fresh = Browser(browser.base)
    try:
        credentials = {"email": email, "password": PASSWORD}
        status, body, _ = await fresh.request("POST", "/api/v1/session", json=credentials,
                                              headers={"Origin": "http://elsewhere.example"})
        assert status == 403
        status, body, _ = await fresh.request("POST", "/api/v1/session",
                                              data=json.dumps(credentials),
                                              headers={"Content-Type": "text/plain"})
        assert status == 415
        assert fresh.cookie(ID_COOKIE) is None
        status, body, _ = await fresh.request("POST", "/api/v1/session", json={
            "email": email, "password": "wrong password"})
        assert status == 401 and body["detail"]
        status, body, _ = await fresh.request("POST", "/api/v1/session/register", json={
            "email": "not-an-email", "password": "short", "display_name": ""})
        assert status == 422
        assert set(body["errors"]) == {"email", "password", "display_name"}
    finally:
        await fresh.http.close()


async def test_the_edge_refreshes_an_expiring_id_token(browser: Browser) -> None:
    email, _ = await browser.sign_up("Dee")
    jar = browser.http.cookie_jar
    url = URL(browser.base + "/api/v1/")
    old = browser.cookie(ID_COOKIE)

    jar.update_cookies({ID_COOKIE: _expired(old)}, url)
    status, me, answer = await browser.request("GET", "/api/v1/me")
    assert status == 200 and me["email"] == email
    renewed = answer.cookies[ID_COOKIE]
    assert renewed.value and renewed.value != _expired(old) and renewed["httponly"]

    # The browser dropped the ID cookie (it expires a minute before the token does).
    jar.clear(lambda morsel: morsel.key == ID_COOKIE)
    assert browser.cookie(ID_COOKIE) is None
    status, me, answer = await browser.request(
        "PUT", "/api/v1/pictures/no-such-picture/like", headers=browser.csrf())
    assert status == 404  # signed in again by the refresh, CSRF still valid
    assert answer.cookies[ID_COOKIE].value


async def test_a_refused_refresh_ends_the_session(browser: Browser) -> None:
    await browser.sign_up("Eve")
    jar = browser.http.cookie_jar
    jar.clear(lambda morsel: morsel.key == ID_COOKIE)
    jar.update_cookies({REFRESH_COOKIE: "not-a-refresh-token"}, URL(browser.base + "/api/v1/"))
    status, body, answer = await browser.request("GET", "/api/v1/me")
    assert status == 401
    assert answer.cookies[REFRESH_COOKIE].value == ""  # cleared
    status, feed, _ = await browser.request("GET", "/api/v1/pictures")
    assert status == 200  # browsing goes on, signed out
    status, session, _ = await browser.request("GET", "/api/v1/session")
    assert session == {"signed_in": False}


async def test_sign_out_clears_the_cookies(browser: Browser) -> None:
    await browser.sign_up("Fay")
    status, body, _ = await browser.request("DELETE", "/api/v1/session")
    assert status == 403  # a forged sign-out is refused too
    status, _, _ = await browser.request("DELETE", "/api/v1/session", headers=browser.csrf())
    assert status == 204
    assert browser.cookie(ID_COOKIE) is None and browser.cookie(REFRESH_COOKIE) is None
    status, _, _ = await browser.request("GET", "/api/v1/me")
    assert status == 401


async def test_the_ui_page_and_its_files(system: str) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/app/upload", "/app/pictures/some-id"):
            async with http.get(system + path) as answer:
                assert answer.status == 200
                assert answer.content_type == "text/html"
                assert '<main id="view"' in await answer.text()
                policy = answer.headers["Content-Security-Policy"]
                assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        async with http.get(system + "/static/js/app.js") as answer:
            assert answer.status == 200
            assert answer.content_type in ("application/javascript", "text/javascript")
            assert answer.headers["Cache-Control"] == "no-cache"
            etag = answer.headers["ETag"]
        async with http.get(system + "/static/js/app.js",
                            headers={"If-None-Match": etag}) as answer:
            assert answer.status == 304
        async with http.get(system + "/static/%2e%2e/app.py") as answer:
            assert answer.status == 404
        async with http.get(system + "/api/v1/config") as answer:
            config = await answer.json()
        assert config["payments"]["test_mode"] is True
        assert "pm_card_visa" in [m["id"] for m in config["payments"]["test_payment_methods"]]
