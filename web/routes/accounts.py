"""Accounts: sign-up, sign-in, refresh and the caller's profile (Firebase Auth)."""

from __future__ import annotations

from aiohttp import web

from topics.users import USER_REGISTERED
from web import validation
from web.problems import Problem
from web.services import identity, json_object, services

routes = web.RouteTableDef()


@routes.post("/api/v1/auth/register")
async def register(request: web.Request) -> web.Response:
    s = services(request)
    email, password, display_name = validation.registration(await json_object(request))
    session = await s.auth.sign_up(email, password, display_name)
    await s.send(USER_REGISTERED, session.user_id, {
        "user_id": session.user_id, "email": email, "display_name": display_name,
    })
    return web.json_response(session.to_json(), status=201,
                             headers={"Location": "/api/v1/me"})


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    s = services(request)
    email, password = validation.credentials(await json_object(request))
    session = await s.auth.sign_in(email, password)
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
    profile = await services(request).read.user(who.user_id) or {}
    return web.json_response({
        "user_id": who.user_id,
        "email": profile.get("email", who.email),
        "display_name": profile.get("display_name", who.display_name),
    })
