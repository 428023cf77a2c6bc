"""Trending scores: pure functions of the counts per time bucket and the time now.

A picture's score in a window at ``now`` is::

    sum over its buckets b that overlap the window of  weight(b) * 2 ** -((now - b) / H)

where ``weight(b)`` is the bucket's likes, comments and purchases times their weights
(:data:`topics.trending.WEIGHTS`), ``b`` the bucket's start and ``H`` the window's half-life.

Every score decays by the same factor as time passes, so the order changes only when activity
comes or a bucket leaves the window. Rankings are therefore sorted by ``rank = now / H +
log2(score)`` (the score measured at a fixed origin, in halvings), which stays the same from
one computation to the next for the same buckets: a page cursor that names a rank keeps its
place however often the ranking is computed again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Iterable, Mapping

from topics.trending import BUCKET_S, KINDS, WEIGHTS, Window


def bucket_of(moment: datetime) -> datetime:
    """The start of the time bucket ``moment`` falls in."""
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % BUCKET_S, UTC)


def window_start(now: datetime, window: Window) -> datetime:
    """The start of the oldest bucket that still overlaps ``window`` at ``now``."""
    return bucket_of(datetime.fromtimestamp(now.timestamp() - window.length_s, UTC))


def weighted(counts: Mapping[str, int]) -> float:
    """A bucket's counts (``{"like": 3, "comment": 1}``) as one weight."""
    return sum(WEIGHTS[kind] * counts.get(kind, 0) for kind in KINDS)


@dataclass(frozen=True)
class Ranked:
    picture_id: str
    score: float  # at the time the ranking was computed
    rank: float  # the order: now / half-life + log2(score), see the module's notes


def rank(buckets: Iterable[tuple[str, datetime, float]], now: datetime, window: Window,
         most: int) -> list[Ranked]:
    """The ``most`` highest-scoring pictures in ``window`` at ``now``, highest first (ties by
    picture id), from ``(picture_id, bucket start, weight)`` triples. Buckets that do not
    overlap the window and pictures whose weight is not positive are left out."""
    since = window_start(now, window).timestamp()
    half_life = window.half_life_s
    weights: dict[str, list[tuple[float, float]]] = {}
    for picture_id, bucket, weight in buckets:
        start = bucket.timestamp()
        if start >= since and weight > 0:
            weights.setdefault(picture_id, []).append((start, weight))
    ranked = []
    for picture_id, terms in weights.items():
        terms.sort()  # summed in one order: the same buckets, the very same float
        # In halvings from the picture's newest bucket, so that the sum neither overflows
        # nor depends on ``now``: the same buckets give the very same rank every time.
        newest = max(start for start, _ in terms)
        order = newest / half_life + math.log2(
            sum(weight * 2 ** ((start - newest) / half_life) for start, weight in terms))
        score = 2 ** (order - now.timestamp() / half_life)
        ranked.append(Ranked(picture_id, score, order))
    ranked.sort(key=lambda r: (-r.rank, r.picture_id))
    return ranked[:most]
