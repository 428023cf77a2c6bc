"""Trending scores: buckets, weights, decay by half-life, windows, and a rank that stays put."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.trending.scoring import bucket_of, rank, weighted, window_start
from topics.trending import BUCKET_S, WEIGHTS, WINDOWS

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
HOUR, DAY = WINDOWS["hour"], WINDOWS["day"]


def ago(minutes: float) -> datetime:
    return bucket_of(NOW - timedelta(minutes=minutes))


def order(buckets, window, now=NOW) -> list[str]:
    return [r.picture_id for r in rank(buckets, now, window, 100)]


def test_buckets_are_tumbling_and_start_on_their_boundary() -> None:
    assert bucket_of(datetime(2026, 12, 2, 12, 4, 59, 999000, tzinfo=UTC)) == NOW
    assert bucket_of(datetime(2026, 12, 2, 12, 5, tzinfo=UTC)) == NOW + timedelta(
        seconds=BUCKET_S)
    assert window_start(NOW + timedelta(minutes=3), HOUR) == NOW - timedelta(hours=1)


def test_weights_of_each_kind() -> None:
    assert weighted({"like": 3, "comment": 1, "purchase": 1}) == (
        3 * WEIGHTS["like"] + WEIGHTS["comment"] + WEIGHTS["purchase"])
    # Two likes against one purchase in the same bucket: the purchase weighs more.
    assert order([("likes", ago(1), weighted({"like": 2})),
                  ("bought", ago(1), weighted({"purchase": 1}))], DAY) == ["bought", "likes"]


def test_decay_puts_a_newer_smaller_burst_above_an_older_bigger_one_in_the_hour() -> None:
    buckets = [("old-burst", ago(50), 10.0), ("new-burst", ago(2), 4.0)]
    # Over the hour (half-life 15 min) 10 likes 50 minutes ago weigh about 1;
    # over the day (half-life 6 h) they still weigh about 9.
    assert order(buckets, HOUR) == ["new-burst", "old-burst"]
    assert order(buckets, DAY) == ["old-burst", "new-burst"]
    [new, old] = rank(buckets, NOW, HOUR, 10)
    assert old.score == pytest.approx(10 * 2 ** (-(NOW - ago(50)).total_seconds() / 900))
    assert new.score == pytest.approx(4 * 2 ** (-(NOW - ago(2)).total_seconds() / 900))


def test_only_buckets_within_the_window_count() -> None:
    buckets = [("two-hours-ago", ago(120), 50.0), ("now", ago(0), 1.0),
               ("two-days-ago", ago(48 * 60), 50.0)]
    assert order(buckets, HOUR) == ["now"]
    assert order(buckets, DAY) == ["two-hours-ago", "now"]
    assert order([("nothing", ago(1), 0.0)], DAY) == []


def test_the_rank_stays_put_as_time_passes_while_scores_decay() -> None:
    buckets = [("a", ago(30), 3.0), ("a", ago(10), 1.0), ("b", ago(5), 2.0)]
    before = {r.picture_id: r for r in rank(buckets, NOW, DAY, 10)}
    later = {r.picture_id: r for r in rank(buckets, NOW + timedelta(hours=6), DAY, 10)}
    assert {p: r.rank for p, r in before.items()} == {p: r.rank for p, r in later.items()}
    assert later["a"].score == pytest.approx(before["a"].score / 2)  # one half-life later
    # The same buckets in another order: the very same numbers.
    assert rank(list(reversed(buckets)), NOW, DAY, 10) == rank(buckets, NOW, DAY, 10)


def test_ties_by_picture_id_and_at_most_so_many() -> None:
    buckets = [(p, ago(1), 1.0) for p in ("c", "a", "b")]
    assert order(buckets, DAY) == ["a", "b", "c"]
    assert [r.picture_id for r in rank(buckets, NOW, DAY, 2)] == ["a", "b"]
