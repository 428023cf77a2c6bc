"""``WORKERS`` for ``make run``: a number for every service, or a count per service."""

from __future__ import annotations

import pytest

from picasso.domains import DOMAINS, app_module, parse_counts


def test_a_bare_number_scales_every_service() -> None:
    assert parse_counts("2") == dict.fromkeys(DOMAINS, 2)
    assert parse_counts(" 1 ") == dict.fromkeys(DOMAINS, 1)


def test_counts_per_service_and_one_for_those_left_out() -> None:
    counts = parse_counts("reactions:3, mail:0")
    assert counts == {**dict.fromkeys(DOMAINS, 1), "reactions": 3, "mail": 0}


@pytest.mark.parametrize("value, says", [
    ("0", "at least 1"),
    ("likes:2", "there is no service 'likes'"),
    ("reactions", "is not <domain>:<count>"),
    ("reactions:two", "is not <domain>:<count>"),
    ("reactions:-1", "is not <domain>:<count>"),
    ("reactions:¹", "is not <domain>:<count>"),  # a digit to str.isdigit, not to int
    ("²", "is not <domain>:<count>"),
])
def test_a_wrong_value_is_refused_with_what_is_wrong(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_counts(value)


def test_each_service_is_a_faust_app_module() -> None:
    assert [app_module(d) for d in DOMAINS] == [f"agents.{d}.app" for d in DOMAINS]
