"""The mail retry settings as read from the environment, and the schedule built from them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents.mail.mailer import Schedule
from picasso.settings import Settings


def test_the_mail_waits_are_read_from_the_environment() -> None:
    settings = Settings.from_env({
        "PICASSO_ENV": "test", "MAIL_RETRY_DELAYS_S": "0.5, 2,10", "MAIL_RETRY_FOR_S": "60",
        "MAIL_USER_WAIT_S": "300", "MAIL_SWEEP_INTERVAL_S": "0.25", "MAIL_SEND_LEASE_S": "40",
    })
    assert settings.mail_retry_delays_s == (0.5, 2.0, 10.0)
    assert (settings.mail_retry_for_s, settings.mail_user_wait_s) == (60.0, 300.0)
    assert (settings.mail_sweep_interval_s, settings.mail_send_lease_s) == (0.25, 40.0)
    assert Schedule.from_settings(settings) == Schedule((0.5, 2.0, 10.0), 60.0, 300.0, 40.0)


def test_the_defaults_retry_for_a_day() -> None:
    defaults = Settings.from_env({"PICASSO_ENV": "test"})
    assert defaults.mail_retry_delays_s[:4] == (1.0, 5.0, 30.0, 120.0)
    assert defaults.mail_retry_for_s == defaults.mail_user_wait_s == 24 * 3600


@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_schedule_means_the_default(value: str) -> None:
    settings = Settings.from_env({"PICASSO_ENV": "test", "MAIL_RETRY_DELAYS_S": value})
    assert settings.mail_retry_delays_s == Settings.mail_retry_delays_s


@pytest.mark.parametrize("value", ["1,-5", ",", "soon"])
def test_a_bad_schedule_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        Settings.from_env({"PICASSO_ENV": "test", "MAIL_RETRY_DELAYS_S": value})


def test_each_failed_attempt_waits_longer_and_the_last_delay_repeats() -> None:
    schedule = Schedule(retry_delays_s=(1.0, 5.0, 30.0))
    waits = [schedule.retry_delay(attempts) for attempts in range(1, 6)]
    assert waits == [timedelta(seconds=s) for s in (1, 5, 30, 30, 30)]
