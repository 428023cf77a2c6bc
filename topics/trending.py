"""Trending: what pictures are ranked by, and the windows they are ranked over.

The trending service has no topic of its own: it consumes other domains' facts (likes,
comments, completed purchases, deleted pictures) and publishes a read model the edge serves
as ``GET /api/v1/pictures?sort=trending&window=hour|day``. These facts are shared by the
service's scoring and the edge's API, so they live here, once.

A picture's score in a window is the weighted sum of its activity, each time bucket's count
halved every ``half_life_s`` of the bucket's age: recent activity counts most, and activity
older than the window not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

# Activity is counted per picture in tumbling buckets of this many seconds, by the time of
# the event that tells it (not when it is consumed).
BUCKET_S = 300
# What one contribution of each kind weighs: a purchase says more than a comment, which says
# more than a like.
WEIGHTS: dict[str, float] = {"like": 1.0, "comment": 2.0, "purchase": 5.0}
KINDS: tuple[str, ...] = tuple(WEIGHTS)


@dataclass(frozen=True)
class Window:
    """A trending window: activity within the last ``length_s`` seconds counts, halved every
    ``half_life_s`` seconds of its age."""

    name: str
    length_s: int
    half_life_s: int


WINDOWS: dict[str, Window] = {w.name: w for w in (
    Window("hour", 3600, 900),
    Window("day", 86400, 6 * 3600),
)}
DEFAULT_WINDOW = "day"
# How many pictures each window's ranking holds (the pages of sort=trending end there).
RANKED_MAX = 500
# The feed's orders: newest first (the default), or trending.
SORTS: tuple[str, ...] = ("newest", "trending")
