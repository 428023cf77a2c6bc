"""Accounts: sign-up, sign-in, refresh and the caller's profile (Firebase Auth)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from topics.users import USER_REGISTERED
from web import validation
from web.auth import Identity, Session
from web.problems import Problem
from web.services import Services, identity, json_object, services

routes = web.RouteTableDef()


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
    }


@routes.post("/api/v1/auth/register")
async def register(request: web.Request) -> web.Response:
    session = await create_account(services(request), await json_object(request))
    return web.json_response(session.to_json(), status=201,
                             headers={"Location": "/api/v1/me"})


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    session = await sign_in(services(request), await json_object(request))
    return web.json_response(session.to_json())


@routes.post("/api/v1/auth/refresh")
async def refresh(request: web.Request) -> web.Response:
    body = await json_object(request)
    token = body.get("refresh_token")
    if not isinstance(token, str) or not token:
        raise Problem(422, "refresh_token: required", errors={"refresh_token": "required"})
    session = await services(request).auth.refresh(token)
    return web.json_response(session.to_json())


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    who = await identity(request)
    return web.json_response(await profile(services(request), who))
