"""Reaction records: likes in, like facts out."""

from __future__ import annotations

from topics import REACTIONS_COMMANDS, REACTIONS_EVENTS
from topics.record import COUNT, ID, Record

_LIKE = {"picture_id": ID, "user_id": ID}

LIKE_PICTURE = Record(
    "reactions", "LikePicture", REACTIONS_COMMANDS, "command",
    "A user likes a picture; liking twice counts once.", _LIKE, tuple(_LIKE),
)
UNLIKE_PICTURE = Record(
    "reactions", "UnlikePicture", REACTIONS_COMMANDS, "command",
    "A user takes back a like.", _LIKE, tuple(_LIKE),
)
PICTURE_LIKED = Record(
    "reactions", "PictureLiked", REACTIONS_EVENTS, "event",
    "A like was recorded; like_count is the number of distinct users who like the picture.",
    {**_LIKE, "like_count": COUNT}, (*_LIKE, "like_count"),
)
PICTURE_UNLIKED = Record(
    "reactions", "PictureUnliked", REACTIONS_EVENTS, "event",
    "A like was taken back.",
    {**_LIKE, "like_count": COUNT}, (*_LIKE, "like_count"),
)

RECORDS = (LIKE_PICTURE, UNLIKE_PICTURE, PICTURE_LIKED, PICTURE_UNLIKED)
