"""Bad requests get a problem+json with the right status, and change nothing."""

from __future__ import annotations

import aiohttp

from tests.helpers import Api, jpeg_with_gps


def assert_problem(status: int, body: dict, answer: aiohttp.ClientResponse, expected: int) -> None:
    assert status == expected, body
    assert answer.content_type == "application/problem+json"
    assert body["status"] == expected and body["title"] and body["detail"] and body["type"]


async def test_accounts_errors(api: Api) -> None:
    ada = await api.register("Ada")
    status, body, answer = await api.call("POST", "/api/v1/auth/register", json={
        "email": ada.email, "password": "another long one", "display_name": "Ada 2"})
    assert_problem(status, body, answer, 409)
    status, body, answer = await api.call("POST", "/api/v1/auth/register", json={
        "email": "not-an-email", "password": "short", "display_name": ""})
    assert_problem(status, body, answer, 422)
    assert set(body["errors"]) == {"email", "password", "display_name"}
    status, body, answer = await api.call("POST", "/api/v1/auth/login", json={
        "email": ada.email, "password": "wrong password"})
    assert_problem(status, body, answer, 401)
    status, body, answer = await api.call("POST", "/api/v1/auth/register", data=b"[1, 2")
    assert_problem(status, body, answer, 400)

    status, session, _ = await api.call("POST", "/api/v1/auth/login", json={
        "email": ada.email, "password": "correct horse battery"})
    assert status == 200 and session["user_id"] == ada.user_id
    status, refreshed, _ = await api.call("POST", "/api/v1/auth/refresh", json={
        "refresh_token": session["refresh_token"]})
    assert status == 200 and refreshed["user_id"] == ada.user_id and refreshed["id_token"]

    status, body, answer = await api.call("GET", "/api/v1/me")
    assert_problem(status, body, answer, 401)
    status, body, answer = await api.call("GET", "/api/v1/me",
                                          headers={"Authorization": "Bearer forged.token.x"})
    assert_problem(status, body, answer, 401)


async def test_upload_errors_change_nothing(api: Api) -> None:
    ada = await api.register("Ada")
    jpeg = jpeg_with_gps(64, 48)
    cases = [
        (dict(data=b"GIF89a not what we take", filename="x.jpg"), 415),
        (dict(data=b"hello, I am text", filename="photo.jpg"), 415),
        (dict(data=jpeg, title=""), 422),
        (dict(data=jpeg, title="x" * 141), 422),
        (dict(data=jpeg, price_cents=10), 422),
        (dict(data=jpeg, price_cents=-5), 422),
        (dict(data=jpeg, tags="ok,not a tag!"), 422),
    ]
    for kwargs, expected in cases:
        status, body = await api.upload(ada, **kwargs)
        assert status == expected, (kwargs.get("title"), body)
        assert body["status"] == expected and body["detail"]
    status, body, answer = await api.call("POST", "/api/v1/pictures", user=ada,
                                          json={"title": "no file"})
    assert_problem(status, body, answer, 415)
    form = aiohttp.FormData()
    form.add_field("title", "no file part")
    form.add_field("price_cents", "0")
    form.add_field("x", "y", filename="x.txt")
    status, body, answer = await api.call("POST", "/api/v1/pictures", user=ada, data=form)
    assert status in (400, 422), body
    status, body = await api.upload(None, jpeg)  # type: ignore[arg-type]
    assert status == 401
    status, feed, _ = await api.call("GET", f"/api/v1/users/{ada.user_id}/pictures")
    assert feed["items"] == []


async def test_picture_rights_and_missing(api: Api) -> None:
    ada = await api.register("Ada")
    bob = await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=500)
    pid = picture["picture_id"]
    status, body, answer = await api.call("PATCH", f"/api/v1/pictures/{pid}", user=bob,
                                          json={"title": "mine now"})
    assert_problem(status, body, answer, 403)
    status, body, answer = await api.call("DELETE", f"/api/v1/pictures/{pid}", user=bob)
    assert_problem(status, body, answer, 403)
    status, body, answer = await api.call("PATCH", f"/api/v1/pictures/{pid}", user=ada,
                                          json={"owner_id": bob.user_id})
    assert_problem(status, body, answer, 422)
    status, body, answer = await api.call("GET", "/api/v1/pictures/no-such-picture")
    assert_problem(status, body, answer, 404)
    status, body, answer = await api.call("PUT", "/api/v1/pictures/no-such-picture/like",
                                          user=bob)
    assert_problem(status, body, answer, 404)
    for limit in ("0", "%C2%B9"):  # "¹": a digit to str.isdigit, not to int
        status, body, answer = await api.call("GET", f"/api/v1/pictures?limit={limit}")
        assert_problem(status, body, answer, 422)
    status, body, answer = await api.call("GET", "/api/v1/pictures?cursor=garbage")
    assert_problem(status, body, answer, 400)
    status, body, answer = await api.call("GET", "/api/v1/nothing-here")
    assert_problem(status, body, answer, 404)
    status, same, _ = await api.call("GET", f"/api/v1/pictures/{pid}")
    assert same["title"] == picture["title"] and same["status"] == "published"


async def test_owner_edits_and_deletes(api: Api) -> None:
    ada = await api.register("Ada")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=0, tags="sea")
    pid = picture["picture_id"]
    status, body, _ = await api.call("PATCH", f"/api/v1/pictures/{pid}", user=ada,
                                     json={"title": "Sea at noon", "price_cents": 900})
    assert status == 202, body
    status, changed, _ = await api.call("GET", f"{body_location(body)}&wait_ms=10000", user=ada)
    assert changed["title"] == "Sea at noon" and changed["price_cents"] == 900
    assert changed["preview_url"] != picture["preview_url"]  # now watermarked
    status, body, _ = await api.call("DELETE", f"/api/v1/pictures/{pid}", user=ada)
    assert status == 202
    status, gone, _ = await api.call("GET", f"{body_location(body)}&wait_ms=10000", user=ada)
    assert gone["status"] == "deleted"
    status, _, _ = await api.call("GET", f"/api/v1/pictures/{pid}")
    assert status == 404
    status, feed, _ = await api.call("GET", f"/api/v1/users/{ada.user_id}/pictures")
    assert feed["items"] == []


def body_location(body: dict) -> str:
    return f"/api/v1/pictures/{body['picture_id']}?after={body['command_id']}"


async def test_operations(api: Api) -> None:
    status, body, _ = await api.call("GET", "/healthz")
    assert status == 200
    status, body, _ = await api.call("GET", "/readyz")
    assert status == 200 and body["ready"] is True
    assert set(body["checks"]) == {"broker", "mongodb", "blob_store", "auth"}
    status, text, answer = await api.call("GET", "/metrics")
    assert status == 200 and b"picasso_http_requests_total" in text
    status, doc, _ = await api.call("GET", "/api/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
