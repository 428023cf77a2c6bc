"""The browser session: sign in, sign up and sign out with HttpOnly cookies (web.sessions).

API clients keep using /api/v1/auth/* and bearer tokens; these routes never show a token
to page scripts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web import sessions
from web.auth import Session
from web.problems import Problem
from web.routes.accounts import create_account, credentials_body, profile, sign_in
from web.services import Services, json_object, optional_identity, services

routes = web.RouteTableDef()


async def _json_from_own_page(request: web.Request) -> dict[str, Any]:
    """The body of a session request, refused unless a page of this origin sent it.

    A JSON content type cannot be sent across sites without a CORS preflight, which the
    edge never grants, so another site cannot sign a browser in to an account of its own.
    """
    sessions.check_origin(request)
    if request.content_type != "application/json":
        raise Problem(415, "send the credentials as application/json")
    return await json_object(request)


async def _started(request: web.Request, s: Services, session: Session,
                   status: int) -> web.Response:
    who = await s.auth.verify(session.id_token)
    body = {"signed_in": True, "user": await profile(s, who),
            "csrf_token": sessions.csrf_token(s.settings, session.refresh_token)}
    response = web.json_response(body, status=status, headers={"Cache-Control": "no-store"})
    sessions.start(response, request, s.settings, session)
    return response


@routes.post("/api/v1/session")
async def start_session(request: web.Request) -> web.Response:
    s = services(request)
    session = await sign_in(s, await credentials_body(request, _json_from_own_page))
    return await _started(request, s, session, 200)


@routes.post("/api/v1/session/register")
async def register_and_start_session(request: web.Request) -> web.Response:
    s = services(request)
    session = await create_account(s, await credentials_body(request, _json_from_own_page))
    return await _started(request, s, session, 201)


@routes.get("/api/v1/session")
async def current_session(request: web.Request) -> web.Response:
    s = services(request)
    who = await optional_identity(request)
    body: dict[str, Any] = {"signed_in": who is not None}
    if who is not None:
        body["user"] = await profile(s, who)
    if who is not None and (refresh_token := request.cookies.get(sessions.REFRESH_COOKIE)):
        body["csrf_token"] = sessions.csrf_token(s.settings, refresh_token)
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@routes.delete("/api/v1/session")
async def end_session(request: web.Request) -> web.Response:
    s = services(request)
    if sessions.has_session(request):
        sessions.check_csrf(request, s.settings)
    sessions.ended(request)
    return web.Response(status=204)
