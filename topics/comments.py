"""Comment records: comments on pictures in, comment facts out.

Commands and facts are keyed by the picture, so everything about one picture's comments
(its count, its owner's deletions, the picture's own deletion) is in order on one partition.

Comment text is **plain text**: Picasso never interprets it as HTML or Markdown. Nothing is
refused for containing ``<`` or ``&`` (a comment may well be "3 < 4"); it is stored and
served exactly as written, and every client must show it as text (escape it; Picasso's own
pages put it in ``textContent``). What is refused: text that is empty or only white space,
longer than :data:`TEXT_MAX` characters (Unicode code points, counted after trimming), or
holding control characters other than the line feed (so a comment may have several lines,
but no tabs, carriage returns, NULs or terminal escapes).
"""

from __future__ import annotations

from topics import COMMENTS_COMMANDS, COMMENTS_EVENTS
from topics.record import COUNT, ID, TIMESTAMP, Record

TEXT_MIN = 1
TEXT_MAX = 1000
# C0 controls but the line feed, DEL and the C1 controls: never in a comment.
CONTROL_CHARACTERS = "\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f"
# At least one character that is not white space, and no control character but "\n".
TEXT_PATTERN = f"^(?=[\\s\\S]*\\S)[^{CONTROL_CHARACTERS}]*$"
TEXT = {
    "type": "string", "minLength": TEXT_MIN, "maxLength": TEXT_MAX, "pattern": TEXT_PATTERN,
    "description": f"Plain text, never interpreted as HTML: {TEXT_MIN} to {TEXT_MAX} "
                   "characters after trimming, no control characters but line feeds.",
}

_ONE = {"comment_id": ID, "picture_id": ID}

ADD_COMMENT = Record(
    "comments", "AddComment", COMMENTS_COMMANDS, "command",
    "A user comments on a published picture; a comment on a picture that is not published "
    "is refused. The same comment_id twice is one comment.",
    {**_ONE, "user_id": ID, "text": TEXT}, (*_ONE, "user_id", "text"),
)
DELETE_COMMENT = Record(
    "comments", "DeleteComment", COMMENTS_COMMANDS, "command",
    "user_id deletes a comment: its author, or the owner of the picture it is on. Deleting "
    "a comment that is gone already changes nothing.",
    {**_ONE, "user_id": ID}, (*_ONE, "user_id"),
)
COMMENT_ADDED = Record(
    "comments", "CommentAdded", COMMENTS_EVENTS, "event",
    "A comment was recorded; comment_count is the picture's number of comments, owner_id "
    "the picture's owner.",
    {**_ONE, "user_id": ID, "text": TEXT, "created_at": TIMESTAMP, "owner_id": ID,
     "comment_count": COUNT},
    (*_ONE, "user_id", "text", "created_at", "comment_count"),
)
COMMENT_DELETED = Record(
    "comments", "CommentDeleted", COMMENTS_EVENTS, "event",
    "A comment was deleted; user_id is its author, deleted_by who deleted it (the author or "
    "the picture's owner). A deleted picture's comments go with it without an event each.",
    {**_ONE, "user_id": ID, "deleted_by": ID, "comment_count": COUNT},
    (*_ONE, "user_id", "deleted_by", "comment_count"),
)

RECORDS = (ADD_COMMENT, DELETE_COMMENT, COMMENT_ADDED, COMMENT_DELETED)
