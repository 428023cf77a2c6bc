"""People: profiles, following and unfollowing (commands to the social service), and the
lists of followers and following, from the read models the users and social services keep."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from picasso.mongo import COMMAND_RESULTS, FOLLOWING, FOLLOWS, PICTURES, SOCIAL_COUNTS, USERS
from topics.envelope import derived_id
from topics.record import Record
from topics.social import FOLLOW_USER, UNFOLLOW_USER, USER_FOLLOWED, USER_UNFOLLOWED
from web.problems import Problem
from web.readmodels import decode_cursor, encode_cursor, page_after
from web.routes.pictures import page_limit
from web.services import Services, identity, long_poll, optional_identity, services

routes = web.RouteTableDef()

# Which side of a follow a list names: the list's own user is the other side's key.
_SIDES = {"followers": ("followee_id", "follower_id"),
          "following": ("follower_id", "followee_id")}


def _location(user_id: str) -> str:
    return f"/api/v1/users/{user_id}"


async def _known(s: Services, user_id: str) -> dict:
    """The user's profile document, or a 404 problem for someone who never registered."""
    doc = await s.read.db[USERS].find_one({"_id": user_id})
    if doc is None:
        raise Problem(404, f"there is no user {user_id}")
    return doc


async def avatar_urls(s: Services, users: list[dict]) -> dict[str, str]:
    """Each user's avatar: the thumbnail of the picture they chose, while it is published
    and theirs."""
    chosen = {u["avatar_picture_id"]: u["_id"] for u in users if u.get("avatar_picture_id")}
    if not chosen:
        return {}
    found = s.read.db[PICTURES].find({"_id": {"$in": list(chosen)}, "status": "published"},
                                     {"owner_id": 1, "thumbnail_key": 1})
    return {doc["owner_id"]: s.blobs.public_url(doc["thumbnail_key"]) async for doc in found
            if chosen[doc["_id"]] == doc["owner_id"] and doc.get("thumbnail_key")}


async def _follow(request: web.Request, record: Record) -> web.Response:
    who = await identity(request)
    s = services(request)
    user_id = request.match_info["user_id"]
    s.limits.follows.check(who.user_id)
    if user_id == who.user_id:
        raise Problem(422, "nobody follows themselves", errors={"user_id": "that is you"})
    await _known(s, user_id)
    command = await s.send(record, who.user_id,
                           {"follower_id": who.user_id, "followee_id": user_id})
    return web.json_response(
        {"user_id": user_id, "command_id": command.id}, status=202,
        headers={"Location": f"{_location(user_id)}?after={command.id}"})


@routes.put("/api/v1/users/{user_id}/follow")
async def follow(request: web.Request) -> web.Response:
    return await _follow(request, FOLLOW_USER)


@routes.delete("/api/v1/users/{user_id}/follow")
async def unfollow(request: web.Request) -> web.Response:
    return await _follow(request, UNFOLLOW_USER)


async def _counted(s: Services, command_id: str) -> bool:
    """Whether a follow command is applied and its fact counted (the followee's followers),
    or the command was refused."""
    facts = [derived_id(command_id, r.type) for r in (USER_FOLLOWED, USER_UNFOLLOWED)]
    found = s.read.db[COMMAND_RESULTS].find({"_id": {"$in": [command_id, *facts]}},
                                            {"outcome": 1})
    results = {doc["_id"]: doc["outcome"] async for doc in found}
    return results.get(command_id) == "rejected" or any(f in results for f in facts)


@routes.get("/api/v1/users/{user_id}")
async def profile(request: web.Request) -> web.Response:
    viewer = await optional_identity(request)
    s = services(request)
    user_id = request.match_info["user_id"]
    after = request.query.get("after")
    if after:
        await long_poll(request, ("follow", after), lambda: _counted(s, after))
    doc = await _known(s, user_id)
    db = s.read.db
    counts, pictures, mine, avatars = await asyncio.gather(
        db[SOCIAL_COUNTS].find_one({"_id": user_id}),
        db[PICTURES].count_documents({"owner_id": user_id, "status": "published"}),
        db[FOLLOWS].find_one({"follower_id": viewer.user_id, "followee_id": user_id,
                              **FOLLOWING}, {"_id": 1}) if viewer else asyncio.sleep(0),
        avatar_urls(s, [doc]))
    counts = counts or {}
    return web.json_response({
        "user_id": user_id,
        "display_name": doc.get("display_name"),
        "bio": doc.get("bio", ""),
        "avatar_picture_id": doc.get("avatar_picture_id") if user_id in avatars else None,
        "avatar_url": avatars.get(user_id),
        "joined_at": doc.get("registered_at"),
        "pictures_count": pictures,
        "followers_count": counts.get("followers_count", 0),
        "following_count": counts.get("following_count", 0),
        "followed_by_me": mine is not None,
    })


async def _people(request: web.Request, side: str) -> web.Response:
    s = services(request)
    user_id = request.match_info["user_id"]
    limit = page_limit(request)
    cursor = request.query.get("cursor")
    await _known(s, user_id)
    mine, other = _SIDES[side]
    query: dict[str, Any] = {mine: user_id, **FOLLOWING}
    position = decode_cursor(cursor, s.read.signing_key) if cursor else None
    docs = await page_after(s.read.db[FOLLOWS], query, position, limit + 1, id_field=other,
                            time_field="followed_at", projection={"_id": 0})
    more = len(docs) > limit
    docs = docs[:limit]
    ids = [d[other] for d in docs]
    users = await s.read.db[USERS].find({"_id": {"$in": ids}},
                                        {"display_name": 1, "avatar_picture_id": 1}
                                        ).to_list(None)
    names = {u["_id"]: u.get("display_name") for u in users}
    avatars = await avatar_urls(s, users)
    items = [{"user_id": d[other], "display_name": names.get(d[other]),
              "avatar_url": avatars.get(d[other]), "followed_at": d["followed_at"]}
             for d in docs]
    next_cursor = (encode_cursor(docs[-1]["followed_at"], docs[-1][other], s.read.signing_key)
                   if more else None)
    return web.json_response({"items": items, "next_cursor": next_cursor})


@routes.get("/api/v1/users/{user_id}/followers")
async def followers(request: web.Request) -> web.Response:
    return await _people(request, "followers")


@routes.get("/api/v1/users/{user_id}/following")
async def following(request: web.Request) -> web.Response:
    return await _people(request, "following")
