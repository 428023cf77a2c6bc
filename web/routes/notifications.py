"""The signed-in person's in-app notifications: the list and the unread count are the
notifications service's read model (names joined from the users read model); marking read
is a command to that service."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from picasso.mongo import NOTIFICATIONS, USERS
from topics.notifications import IDS_MAX, MARK_NOTIFICATIONS_READ
from topics.record import ID_MAX
from web.problems import invalid
from web.readmodels import decode_cursor, encode_cursor, page_after
from web.routes.pictures import page_limit
from web.services import Services, identity, json_object, long_poll, services

routes = web.RouteTableDef()

ME = "/api/v1/me/notifications"
# A picture's likes notification names this many of its latest likers.
LIKERS_SHOWN = 3
# Fields a notification carries when its kind has them, as stored.
_DETAILS = ("comment_id", "text", "purchase_id", "amount_cents", "currency", "reason")


def _visible(user_id: str) -> dict[str, Any]:
    """A person's notifications; a likes notification whose likers all took theirs back is
    not shown."""
    return {"user_id": user_id, "count": {"$ne": 0}}


async def _reader(request: web.Request) -> tuple[Services, str]:
    """The services and the signed-in caller, once the command named by ``after`` (with
    ``wait_ms``) is applied."""
    who = await identity(request)
    s = services(request)
    after = request.query.get("after")
    if after:
        await long_poll(request, ("command", after), lambda: s.read.command_applied(after))
    return s, who.user_id


def _shape(doc: dict, names: dict[str, str | None]) -> dict[str, Any]:
    actors = list(reversed(doc.get("likers", [])))[:LIKERS_SHOWN] if doc["kind"] == "liked" \
        else doc.get("actors", [])
    item = {
        "notification_id": doc["_id"],
        "kind": doc["kind"],
        "read": doc["read"],
        "at": doc["at"],
        "actors": [{"user_id": a, "display_name": names.get(a)} for a in actors],
        "count": doc.get("count", 1),
        "picture": ({"picture_id": doc["picture_id"], "title": doc.get("title")}
                    if "picture_id" in doc else None),
    }
    return item | {name: doc[name] for name in _DETAILS if name in doc}


@routes.get(ME)
async def list_notifications(request: web.Request) -> web.Response:
    s, user_id = await _reader(request)
    limit = page_limit(request)
    query = _visible(user_id)
    cursor = request.query.get("cursor")
    position = decode_cursor(cursor, s.settings.signing_key) if cursor else None
    db = s.read.db
    docs = await page_after(db[NOTIFICATIONS], query, position, limit + 1, time_field="at")
    next_cursor = None
    if len(docs) > limit:
        docs = docs[:limit]
        next_cursor = encode_cursor(docs[-1]["at"], docs[-1]["_id"], s.settings.signing_key)
    people = {a for d in docs for a in d.get("likers", [])[-LIKERS_SHOWN:] + d.get("actors", [])}
    users = db[USERS].find({"_id": {"$in": list(people)}}, {"display_name": 1})
    names = {u["_id"]: u.get("display_name") async for u in users}
    return web.json_response({"items": [_shape(d, names) for d in docs],
                              "next_cursor": next_cursor})


@routes.get(f"{ME}/unread_count")
async def unread_count(request: web.Request) -> web.Response:
    s, user_id = await _reader(request)
    unread = await s.read.db[NOTIFICATIONS].count_documents(
        {**_visible(user_id), "read": False})
    return web.json_response({"unread": unread})


def _marks(body: dict[str, Any]) -> dict[str, Any]:
    """``{"ids": [...]}`` or ``{"all": true}`` as the command's data, or a 422."""
    if set(body) - {"ids", "all"} or ("ids" in body) == ("all" in body):
        raise invalid({"body": 'give either "ids" (a list of notification ids) or '
                               '"all": true'})
    if "all" in body:
        if body["all"] is not True:
            raise invalid({"all": "must be true"})
        return {"all": True}
    ids = body["ids"]
    if (not isinstance(ids, list) or not 1 <= len(ids) <= IDS_MAX
            or not all(isinstance(i, str) and 1 <= len(i) <= ID_MAX for i in ids)):
        raise invalid({"ids": f"1 to {IDS_MAX} notification ids"})
    return {"notification_ids": list(dict.fromkeys(ids))}


@routes.post(f"{ME}/read")
async def mark_read(request: web.Request) -> web.Response:
    who = await identity(request)
    s = services(request)
    data = {"user_id": who.user_id, **_marks(await json_object(request))}
    command = await s.send(MARK_NOTIFICATIONS_READ, who.user_id, data)
    return web.json_response({"command_id": command.id}, status=202,
                             headers={"Location": f"{ME}?after={command.id}"})
