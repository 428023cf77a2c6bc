"""Social records: who follows whom.

Follow commands are keyed by the follower, so one person's follows and unfollows are applied
in order and their ``following_count`` is exact; the facts are keyed by the followee, so
everything that concerns one person's followers (their count, fan-out of their pictures into
timelines) is in order on one partition.
"""

from __future__ import annotations

from topics import SOCIAL_COMMANDS, SOCIAL_EVENTS
from topics.record import COUNT, ID, Record

_EDGE = {"follower_id": ID, "followee_id": ID}

FOLLOW_USER = Record(
    "social", "FollowUser", SOCIAL_COMMANDS, "command",
    "A person follows another; following twice counts once; nobody follows themselves.",
    _EDGE, tuple(_EDGE),
)
UNFOLLOW_USER = Record(
    "social", "UnfollowUser", SOCIAL_COMMANDS, "command",
    "A person stops following another.",
    _EDGE, tuple(_EDGE),
)
USER_FOLLOWED = Record(
    "social", "UserFollowed", SOCIAL_EVENTS, "event",
    "A follow was recorded; following_count is the follower's number of people followed.",
    {**_EDGE, "following_count": COUNT}, (*_EDGE, "following_count"),
)
USER_UNFOLLOWED = Record(
    "social", "UserUnfollowed", SOCIAL_EVENTS, "event",
    "A follow was taken back.",
    {**_EDGE, "following_count": COUNT}, (*_EDGE, "following_count"),
)

RECORDS = (FOLLOW_USER, UNFOLLOW_USER, USER_FOLLOWED, USER_UNFOLLOWED)
