"""The edge's backpressure rule (web.backlog) on a clock the test moves; the same path against
the real broker and reactions worker is tests/e2e/test_backpressure.py."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from picasso.settings import Settings
from topics import PAYMENTS_EVENTS, PICTURES_COMMANDS, REACTIONS_COMMANDS, SOCIAL_COMMANDS
from web.backlog import Backlog
from web.problems import Problem

PREFIX = "t."
LIKES = REACTIONS_COMMANDS.name(PREFIX)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def backlog(max_age_s: float = 0.5, min_waiting: int = 1) -> tuple[Backlog, Clock]:
    clock = Clock()
    settings = Settings.from_env({"PICASSO_ENV": "test", "PICASSO_TOPIC_PREFIX": PREFIX,
                                  "BACKLOG_MAX_AGE_S": str(max_age_s),
                                  "BACKLOG_MIN_WAITING": str(min_waiting)})
    return Backlog(settings, clock=clock), clock


def test_a_service_that_leaves_a_command_waiting_too_long_is_not_sent_more() -> None:
    rule, clock = backlog()
    rule.check(REACTIONS_COMMANDS, PREFIX)
    rule.sent(LIKES, 0, 10)
    rule.sent(LIKES, 1, 4)
    clock.now += 0.4
    rule.check(REACTIONS_COMMANDS, PREFIX)  # younger than the limit
    clock.now += 0.3
    with pytest.raises(Problem) as refused:
        rule.check(REACTIONS_COMMANDS, PREFIX)
    assert refused.value.status_code == 503
    assert refused.value.headers["Retry-After"] == "1"
    # Another service's commands are not held up by this one's backlog.
    rule.check(SOCIAL_COMMANDS, PREFIX)
    # Partition 0 applied; partition 1's command still waits.
    rule.applied(TopicPartition(LIKES, 0), 11)
    with pytest.raises(Problem):
        rule.check(REACTIONS_COMMANDS, PREFIX)
    rule.applied(TopicPartition(LIKES, 1), 5)
    rule.check(REACTIONS_COMMANDS, PREFIX)
    assert rule.oldest_age(LIKES) == 0


def test_only_commands_before_the_committed_offset_count_as_applied() -> None:
    rule, clock = backlog()
    for offset in (5, 6, 7):
        rule.sent(LIKES, 0, offset)
        clock.now += 1
    rule.applied(TopicPartition(LIKES, 0), 6)  # 5 applied; 6 is the next to read
    assert rule.oldest_age(LIKES) == 2  # 6, sent two seconds ago
    with pytest.raises(Problem) as refused:
        rule.check(REACTIONS_COMMANDS, PREFIX)
    assert refused.value.headers["Retry-After"] == "2"


def test_unguarded_topics_and_a_limit_of_zero_never_refuse() -> None:
    rule, clock = backlog()
    rule.sent(PAYMENTS_EVENTS.name(PREFIX), 0, 1)  # a webhook's fact: never refused
    rule.sent(PICTURES_COMMANDS.name(PREFIX), 0, 1)  # an upload takes its time by nature
    clock.now += 60
    rule.check(PAYMENTS_EVENTS, PREFIX)
    rule.check(PICTURES_COMMANDS, PREFIX)
    off, clock = backlog(max_age_s=0)
    off.sent(LIKES, 0, 1)
    clock.now += 60
    off.check(REACTIONS_COMMANDS, PREFIX)
    assert not off.enabled


def test_a_few_commands_waiting_are_no_backlog() -> None:
    """A lone person's like, then unlike during one slow batch: not refused however long
    the batch takes; as many commands as BACKLOG_MIN_WAITING waiting that long are."""
    rule, clock = backlog(min_waiting=Settings().backlog_min_waiting)
    for offset in range(rule.min_waiting - 1):
        rule.sent(LIKES, offset % 3, offset)
    clock.now += 5
    rule.check(REACTIONS_COMMANDS, PREFIX)
    assert rule.waiting(LIKES) == rule.min_waiting - 1
    rule.sent(LIKES, 0, 100)
    with pytest.raises(Problem) as refused:
        rule.check(REACTIONS_COMMANDS, PREFIX)
    assert refused.value.headers["Retry-After"] == "5"


def measure(rule: Backlog, clock: Clock, per_s: int, seconds: float = 1.0) -> None:
    """Polls every 0.1 s that each find commands waiting and ``per_s`` / 10 applied."""
    for _ in range(round(seconds * 10)):
        clock.now += 0.1
        rule.measured(LIKES, per_s // 10, 0.1)


def test_a_burst_is_cut_at_what_the_service_applies_within_the_limit() -> None:
    """The service applies 100 a second: 50 commands waiting are half a second of work, so
    the 51st is refused though none has waited yet (the age alone would let them all in)."""
    rule, clock = backlog(min_waiting=10)
    assert rule.capacity(LIKES) is None
    for offset in range(200):  # nothing measured yet: only the age counts
        rule.sent(LIKES, 0, offset)
        rule.check(REACTIONS_COMMANDS, PREFIX)
    rule.applied(TopicPartition(LIKES, 0), 200)
    measure(rule, clock, 100)
    assert rule.capacity(LIKES) == pytest.approx(100)
    for offset in range(200, 250):
        rule.check(REACTIONS_COMMANDS, PREFIX)
        rule.sent(LIKES, 0, offset)
    with pytest.raises(Problem) as refused:
        rule.check(REACTIONS_COMMANDS, PREFIX)
    assert refused.value.headers["Retry-After"] == "1"
    assert rule.waiting(LIKES) == 50
    rule.applied(TopicPartition(LIKES, 0), 230)  # 30 applied: 20 wait, 0.2 s of work
    rule.check(REACTIONS_COMMANDS, PREFIX)


def test_the_best_rate_is_kept_through_a_lull_and_forgotten_after_the_window() -> None:
    from web.backlog import CAPACITY_WINDOW_S

    rule, clock = backlog(min_waiting=10)
    measure(rule, clock, 400)
    measure(rule, clock, 20, seconds=3)  # a lull: little to apply
    assert rule.capacity(LIKES) == pytest.approx(400)
    clock.now += CAPACITY_WINDOW_S
    assert rule.capacity(LIKES) is None
    # Polls that found work for too short a time tell no rate.
    rule.measured(LIKES, 50, 0.1)
    assert rule.capacity(LIKES) is None
