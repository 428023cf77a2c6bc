"""The OpenAPI document's comments (``web.routes.comments``): adding and deleting are
commands; the list is the comments service's read model. The text's limits are the
contract's (``topics.comments``)."""

from __future__ import annotations

from typing import Any

from topics.comments import TEXT, TEXT_MAX, TEXT_MIN
from web.openapi.common import (
    API,
    OPTIONAL_SIGN_IN,
    PICTURE_ID,
    SIGNED_IN,
    Schema,
    json_body,
    nullable,
    obj,
    operation,
    path_param,
    problems,
    query,
    ref,
    response,
    schema_ref,
    string,
)
from web.openapi.pictures import LIMIT_DEFAULT, LIMIT_MAX
from web.readmodels import MAX_WAIT_MS

PLAIN_TEXT = ("Plain text, served exactly as written: Picasso never interprets it as HTML, "
              "so `<` and `&` are ordinary characters and every client must escape the text "
              "when it shows it (or put it in a text node).")


def schemas() -> dict[str, Schema]:
    text = {**TEXT, "description": PLAIN_TEXT}
    return {
        "NewComment": obj({
            "text": {**text, "description": f"{PLAIN_TEXT} {TEXT_MIN} to {TEXT_MAX} "
                                            "characters once white space at either end is "
                                            "trimmed; no control characters but line feeds "
                                            "(CR LF is taken as a line feed)."},
        }, closed=True),
        "Comment": obj({
            "comment_id": string(),
            "picture_id": string(),
            "author": obj({"user_id": string(), "display_name": nullable(string())},
                          description="Who wrote the comment."),
            "text": text,
            "created_at": string(format="date-time"),
        }, description="A comment on a picture."),
        "CommentPage": obj({
            "items": {"type": "array", "items": schema_ref("Comment")},
            "next_cursor": nullable(string("Opaque, signed by the edge: pass it as `cursor` "
                                           "for the next page; null on the last page.")),
        }, description="A picture's comments, oldest first."),
        "CommentAccepted": obj({
            "picture_id": string(),
            "comment_id": string("The comment's id, known before it is applied."),
            "command_id": string("Pass as `after` to GET "
                                 "/api/v1/pictures/{picture_id}/comments."),
        }, description="A comment's command was accepted by the broker; it is applied later."),
    }


def paths() -> dict[str, Any]:
    def accepted(description: str) -> dict[str, Any]:
        return {"202": response(description, schema_ref("CommentAccepted"),
                                headers={"Location": ref("headers", "Location")})}

    comments = f"{API}/pictures/{{picture_id}}/comments"
    return {
        comments: {
            "post": operation(
                "addComment", "comments", "Comment on a picture",
                {**accepted("Accepted; the comment is listed once applied. `Location` is the "
                            "comments, with `?after=<command_id>`."),
                 **problems(400, 401, 404, 422, 429, 503)},
                description="404 unless the picture is published. The text is plain text.",
                security=SIGNED_IN, parameters=[PICTURE_ID],
                request_body=json_body(schema_ref("NewComment")),
            ),
            "get": operation(
                "listComments", "comments", "A picture's comments",
                {"200": response("A page of comments, oldest first.",
                                 schema_ref("CommentPage")),
                 **problems(400, 401, 404, 422, 503)},
                description="Each with its author's id and display name. 404 unless the "
                            "picture is published (or the caller's own).",
                security=OPTIONAL_SIGN_IN,
                parameters=[
                    PICTURE_ID,
                    query("limit", {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX,
                                    "default": LIMIT_DEFAULT}, "How many comments per page."),
                    query("cursor", string(), "The opaque `next_cursor` of the previous "
                                              "page, as given; any other value is a 400."),
                    query("after", string(), "A `command_id` from a 202 answer: wait (with "
                                             "`wait_ms`) until that command is applied."),
                    query("wait_ms", {"type": "integer", "minimum": 0,
                                      "maximum": MAX_WAIT_MS, "default": 0},
                          "With `after`: hold the answer up to this many milliseconds until "
                          "the command is applied; then answer what there is."),
                ],
            ),
        },
        f"{comments}/{{comment_id}}": {"delete": operation(
            "deleteComment", "comments", "Delete a comment",
            {**accepted("Accepted; the comment leaves the list once applied."),
             **problems(401, 403, 404, 429, 503)},
            description="Its author may, and so may the picture's owner; anyone else gets "
                        "403. 404 for a comment that is not (or no longer) on the picture.",
            security=SIGNED_IN,
            parameters=[PICTURE_ID, path_param("comment_id", "The comment's id.")],
        )},
    }
