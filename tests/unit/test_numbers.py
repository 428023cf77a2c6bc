"""picasso.numbers: whole numbers read from text, ASCII digits only."""

from __future__ import annotations

import pytest

from picasso.numbers import whole_number


@pytest.mark.parametrize("text, number", [
    ("0", 0), ("7", 7), ("007", 7), ("20", 20), ("12345678901234567890", 12345678901234567890),
])
def test_ascii_digits_are_whole_numbers(text: str, number: int) -> None:
    assert whole_number(text) == number


@pytest.mark.parametrize("text", [
    "", " 1", "1 ", "+1", "-1", "1.0", "1e3", "1_000", "0x10", "twenty",
    "¹", "²0", "٣", "३", "１２",  # str.isdigit takes all of these; int refuses the first two
])
def test_anything_else_is_not(text: str) -> None:
    assert whole_number(text) is None


@pytest.mark.parametrize("value", ["¹", "٣", "0", "two"])
def test_make_runs_counts_are_refused_naming_the_setting(value: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from deploy.local.run import _count

    monkeypatch.setenv("EDGES", value)
    with pytest.raises(SystemExit, match=r"EDGES must be a whole number of at least 1"):
        _count("EDGES")
    monkeypatch.setenv("EDGES", "3")
    assert _count("EDGES") == 3
