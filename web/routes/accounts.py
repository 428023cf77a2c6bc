"""Accounts: sign-up, sign-in, refresh and the caller's profile (Firebase Auth)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

from picasso import unsubscribe
from picasso.mongo import PICTURES
from topics.users import (
    NOTIFICATION_KINDS,
    USER_PREFERENCES_CHANGED,
    USER_REGISTERED,
    USER_UPDATED,
    mail_wanted,
)
from web import validation
from web.auth import Identity, Session
from web.problems import Problem
from web.services import Services, identity, json_object, services

routes = web.RouteTableDef()


async def credentials_body(request: web.Request,
                           read: Callable[[web.Request], Awaitable[dict[str, Any]]] = json_object
                           ) -> dict[str, Any]:
    """The body of a sign-in or sign-up, counted against the client's address and the email
    it names (a 429 past either limit: password guessing, account spraying)."""
    s = services(request)
    s.limits.auth_per_address.check(request.remote or "")
    body = await read(request)
    email = body.get("email")
    if isinstance(email, str):
        s.limits.auth_per_email.check(email.strip().lower())
    return body


async def create_account(s: Services, body: dict[str, Any]) -> Session:
    """Sign a new user up and announce them (``UserRegistered``); their first session."""
    email, password, display_name = validation.registration(body)
    session = await s.auth.sign_up(email, password, display_name)
    await s.send(USER_REGISTERED, session.user_id, {
        "user_id": session.user_id, "email": email, "display_name": display_name,
    })
    return session


async def sign_in(s: Services, body: dict[str, Any]) -> Session:
    email, password = validation.credentials(body)
    return await s.auth.sign_in(email, password)


async def profile(s: Services, who: Identity) -> dict[str, Any]:
    """The caller as ``GET /me`` shows them (the profile projection wins over the token)."""
    doc = await s.read.user(who.user_id) or {}
    return {
        "user_id": who.user_id,
        "email": doc.get("email", who.email),
        "display_name": doc.get("display_name", who.display_name),
        "preferences": _preferences(doc),
        "bio": doc.get("bio", ""),
        "avatar_picture_id": doc.get("avatar_picture_id"),
    }


@routes.post("/api/v1/auth/register")
async def register(request: web.Request) -> web.Response:
    session = await create_account(services(request), await credentials_body(request))
    return web.json_response(session.to_json(), status=201,
                             headers={"Location": "/api/v1/me"})


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    session = await sign_in(services(request), await credentials_body(request))
    return web.json_response(session.to_json())


@routes.post("/api/v1/auth/refresh")
async def refresh(request: web.Request) -> web.Response:
    body = await json_object(request)
    token = body.get("refresh_token")
    if not isinstance(token, str) or not token:
        raise Problem(422, "refresh_token: required", errors={"refresh_token": "required"})
    session = await services(request).auth.refresh(token)
    return web.json_response(session.to_json())


def _preferences(profile: dict) -> dict[str, bool]:
    """Every notification kind with whether it is on; kinds never set take their default."""
    chosen = profile.get("preferences") or {}
    return {kind: mail_wanted(kind, chosen) for kind in NOTIFICATION_KINDS}


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    who = await identity(request)
    return web.json_response(await profile(services(request), who))


@routes.patch("/api/v1/me")
async def change_me(request: web.Request) -> web.Response:
    """Change the bio and avatar (UserUpdated) and turn kinds of notification mail on or off
    (UserPreferencesChanged); applied once the users service consumes them, in order."""
    who = await identity(request)
    s = services(request)
    body = await json_object(request)
    fields = validation.profile_changes(body)
    rest = {name: value for name, value in body.items() if name not in fields}
    changes = validation.preference_changes(rest) if rest or not fields else {}
    avatar = fields.get("avatar_picture_id")
    if avatar is not None:
        doc = await s.read.db[PICTURES].find_one({"_id": avatar}, {"owner_id": 1, "status": 1})
        if doc is None or doc["owner_id"] != who.user_id or doc["status"] != "published":
            raise Problem(422, "avatar_picture_id: not one of your published pictures",
                          errors={"avatar_picture_id": "not one of your published pictures"})
    profile = await s.read.user(who.user_id) or {}
    answer: dict[str, Any] = {"user_id": who.user_id}
    if fields:
        event = await s.send(USER_UPDATED, who.user_id, {"user_id": who.user_id, **fields})
        answer.update(fields)
    if changes:
        event = await s.send(USER_PREFERENCES_CHANGED, who.user_id,
                             {"user_id": who.user_id, "preferences": changes})
    answer["preferences"] = {**_preferences(profile), **changes}
    answer["command_id"] = event.id
    return web.json_response(answer, status=202, headers={"Location": "/api/v1/me"})


def _unsubscribe_target(request: web.Request) -> tuple[str, list[str]]:
    """The user and kinds a signed unsubscribe link names, or a 403 problem."""
    user_id = request.query.get("user", "")
    kind = request.query.get("kind", "")
    kinds = list(NOTIFICATION_KINDS) if kind == unsubscribe.ALL else [kind]
    secret = services(request).settings.signing_key
    if (not user_id or not set(kinds) <= set(NOTIFICATION_KINDS)
            or not unsubscribe.valid(secret, user_id, kind, request.query.get("signature", ""))):
        raise Problem(403, "the unsubscribe link is not valid")
    return user_id, kinds


@routes.get(unsubscribe.PATH)
async def unsubscribe_page(request: web.Request) -> web.Response:
    """A page with one button, so that a link checker opening the link changes nothing."""
    _unsubscribe_target(request)
    return web.Response(content_type="text/html", text=(
        "<!doctype html><meta charset=utf-8><title>Unsubscribe</title>"
        "<form method=post><p>Stop these mails from Picasso?</p>"
        "<button name=List-Unsubscribe value=One-Click>Unsubscribe</button></form>"))


@routes.post(unsubscribe.PATH)
async def unsubscribe_now(request: web.Request) -> web.Response:
    """RFC 8058 one-click unsubscribe: turns the link's kinds of mail off."""
    user_id, kinds = _unsubscribe_target(request)
    event = await services(request).send(
        USER_PREFERENCES_CHANGED, user_id,
        {"user_id": user_id, "preferences": {kind: False for kind in kinds}})
    return web.json_response({"user_id": user_id, "turned_off": kinds,
                              "command_id": event.id}, status=202)
