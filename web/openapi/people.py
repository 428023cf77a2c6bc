"""The OpenAPI document's people (``web.routes.people``): profiles, follows and the lists
of followers and following."""

from __future__ import annotations

from typing import Any

from topics.users import BIO
from web.openapi.common import (
    API,
    OPTIONAL_SIGN_IN,
    SIGNED_IN,
    Schema,
    nullable,
    obj,
    operation,
    path_param,
    problems,
    query,
    response,
    schema_ref,
    string,
)
from web.openapi.pictures import LIMIT_DEFAULT, LIMIT_MAX
from web.readmodels import MAX_WAIT_MS

USER_ID = path_param("user_id", "The user's id.")


def schemas() -> dict[str, Schema]:
    return {
        "Profile": obj({
            "user_id": string(),
            "display_name": nullable(string()),
            "bio": {**BIO, "description": "Plain text as the person wrote it: escape it "
                                          "before putting it in HTML."},
            "avatar_picture_id": nullable(string()),
            "avatar_url": nullable(string(format="uri-reference",
                                          description="The avatar picture's thumbnail.")),
            "joined_at": nullable(string(format="date-time")),
            "pictures_count": {"type": "integer", "minimum": 0,
                               "description": "Published pictures."},
            "followers_count": {"type": "integer", "minimum": 0},
            "following_count": {"type": "integer", "minimum": 0},
            "followed_by_me": {"type": "boolean",
                               "description": "Whether the signed-in caller follows them "
                                              "(false for a caller not signed in)."},
        }),
        "Person": obj({
            "user_id": string(),
            "display_name": nullable(string()),
            "avatar_url": nullable(string(format="uri-reference")),
            "followed_at": string(format="date-time"),
        }),
        "PersonPage": obj({
            "items": {"type": "array", "items": schema_ref("Person")},
            "next_cursor": nullable(string(description="Pass as `cursor` for the next page; "
                                                       "null on the last page.")),
        }),
        "FollowAccepted": obj({"user_id": string(), "command_id": string()}),
    }


def paths() -> dict[str, Any]:
    def follow(operation_id: str, summary: str, description: str) -> dict[str, Any]:
        return operation(
            operation_id, "people", summary,
            {"202": response("Accepted; `Location` is the profile with `?after=`.",
                             schema_ref("FollowAccepted"),
                             headers={"Location": {"description": "`/api/v1/users/{user_id}"
                                                                  "?after={command_id}`",
                                                   "schema": string()}}),
             **problems(401, 404, 422, 503)},
            description=f"{description} 404 for someone who is not registered; 422 for "
                        "oneself (nobody follows themselves).",
            security=SIGNED_IN, parameters=[USER_ID])

    def people(operation_id: str, summary: str) -> dict[str, Any]:
        return {"get": operation(
            operation_id, "people", summary,
            {"200": response("A page of people, newest follow first.",
                             schema_ref("PersonPage")), **problems(400, 404, 422)},
            parameters=[USER_ID,
                        query("limit", {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX,
                                        "default": LIMIT_DEFAULT}, "How many per page."),
                        query("cursor", string(), "The opaque `next_cursor` of the previous "
                                                  "page; any other value is a 400.")])}

    return {
        f"{API}/users/{{user_id}}": {"get": operation(
            "getProfile", "people", "A person's profile",
            {"200": response("The profile.", schema_ref("Profile")),
             **problems(401, 404, 422, 503)},
            description="404 for someone who is not registered.",
            security=OPTIONAL_SIGN_IN,
            parameters=[USER_ID,
                        query("wait_ms", {"type": "integer", "minimum": 0,
                                          "maximum": MAX_WAIT_MS, "default": 0},
                              "With `after`: hold the answer up to this many milliseconds "
                              "until that follow is applied and counted."),
                        query("after", string(), "A `command_id` of a follow or unfollow.")],
        )},
        f"{API}/users/{{user_id}}/follow": {
            "put": follow("followUser", "Follow a person", "Following twice counts once."),
            "delete": follow("unfollowUser", "Stop following a person",
                             "Unfollowing is idempotent too."),
        },
        f"{API}/users/{{user_id}}/followers": people("listFollowers", "Who follows a person"),
        f"{API}/users/{{user_id}}/following": people("listFollowing", "Whom a person follows"),
    }
