"""Likes: each one a command to the reactions agent."""

from __future__ import annotations

from aiohttp import web

from topics.reactions import LIKE_PICTURE, UNLIKE_PICTURE
from topics.record import Record
from web.problems import Problem
from web.services import identity, services

routes = web.RouteTableDef()


async def _react(request: web.Request, record: Record) -> web.Response:
    who = await identity(request)
    s = services(request)
    s.limits.likes.check(who.user_id)
    picture_id = request.match_info["picture_id"]
    if not await s.read.likeable(picture_id):
        raise Problem(404, f"there is no published picture {picture_id}")
    command = await s.send(record, picture_id, {"picture_id": picture_id, "user_id": who.user_id})
    return web.json_response(
        {"picture_id": picture_id, "command_id": command.id}, status=202,
        headers={"Location": f"/api/v1/pictures/{picture_id}?after={command.id}"},
    )


@routes.put("/api/v1/pictures/{picture_id}/like")
async def like(request: web.Request) -> web.Response:
    return await _react(request, LIKE_PICTURE)


@routes.delete("/api/v1/pictures/{picture_id}/like")
async def unlike(request: web.Request) -> web.Response:
    return await _react(request, UNLIKE_PICTURE)
