"""Comments on pictures: adding and deleting are commands to the comments service; the
list is its read model. Comment text is plain text, served as written: clients escape it."""

from __future__ import annotations

from aiohttp import web

from topics.comments import ADD_COMMENT, DELETE_COMMENT
from topics.envelope import new_id
from web import validation
from web.problems import Problem
from web.routes.pictures import page_limit
from web.services import (
    Services,
    identity,
    json_object,
    long_poll,
    optional_identity,
    services,
)

routes = web.RouteTableDef()


async def _writer(request: web.Request) -> tuple[Services, str, str]:
    """The services, the signed-in caller's id (one more comment write counted against
    their rate limit) and the picture of the path."""
    who = await identity(request)
    s = services(request)
    s.limits.comments.check(who.user_id)
    return s, who.user_id, request.match_info["picture_id"]


def _accepted(picture_id: str, comment_id: str, command_id: str) -> web.Response:
    return web.json_response(
        {"picture_id": picture_id, "comment_id": comment_id, "command_id": command_id},
        status=202,
        headers={"Location": f"/api/v1/pictures/{picture_id}/comments?after={command_id}"},
    )


@routes.post("/api/v1/pictures/{picture_id}/comments")
async def add_comment(request: web.Request) -> web.Response:
    s, user_id, picture_id = await _writer(request)
    if not await s.read.likeable(picture_id):
        raise Problem(404, f"there is no published picture {picture_id}")
    text = validation.comment(await json_object(request))
    comment_id = new_id()
    command = await s.send(ADD_COMMENT, picture_id, {
        "comment_id": comment_id, "picture_id": picture_id, "user_id": user_id, "text": text})
    return _accepted(picture_id, comment_id, command.id)


@routes.get("/api/v1/pictures/{picture_id}/comments")
async def list_comments(request: web.Request) -> web.Response:
    viewer = await optional_identity(request)
    s = services(request)
    picture_id = request.match_info["picture_id"]
    limit = page_limit(request)
    after = request.query.get("after")
    if after:  # a command_id from a 202: wait (wait_ms) until its service applied it
        await long_poll(request, ("command", after), lambda: s.read.command_applied(after))
    doc = await s.read.picture_doc(picture_id)
    if doc is None or (doc["status"] != "published"
                       and doc["owner_id"] != (viewer.user_id if viewer else None)):
        raise Problem(404, f"there is no picture {picture_id}")
    page = await s.read.comments(picture_id, limit=limit,
                                 cursor=request.query.get("cursor") or None)
    return web.json_response(page)


@routes.delete("/api/v1/pictures/{picture_id}/comments/{comment_id}")
async def delete_comment(request: web.Request) -> web.Response:
    s, user_id, picture_id = await _writer(request)
    comment_id = request.match_info["comment_id"]
    comment = await s.read.comment(comment_id)
    picture = await s.read.picture_doc(picture_id)
    if comment is None or comment["picture_id"] != picture_id or picture is None:
        raise Problem(404, f"there is no comment {comment_id} on picture {picture_id}")
    if user_id not in (comment["user_id"], picture["owner_id"]):
        raise Problem(403, "only the comment's author or the picture's owner may delete it")
    command = await s.send(DELETE_COMMENT, picture_id, {
        "comment_id": comment_id, "picture_id": picture_id, "user_id": user_id})
    return _accepted(picture_id, comment_id, command.id)
