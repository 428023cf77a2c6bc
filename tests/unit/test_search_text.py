"""How search reads text (picasso.search): words, Porter's stems, prefixes, field names;
and what the search service writes for a picture (agents.search.index). The same functions
run against the real servers in tests/integration/test_search.py."""

from __future__ import annotations

import pytest

from agents.search.index import person_entries, picture_entries
from picasso.search import PREFIX_MIN, field, identifier, prefixes, stem, words


def test_words_are_lower_case_without_accents_split_on_anything_else() -> None:
    assert words("Café au lait—Sunsets & SKY_blue 2026!") == [
        "cafe", "au", "lait", "sunsets", "sky", "blue", "2026"]
    assert words("  ") == []
    assert words("a" * 100) == ["a" * 40]


@pytest.mark.parametrize("word,expected", [
    # Porter's own examples (1980) and the words people search pictures with.
    ("caresses", "caress"), ("ponies", "poni"), ("cats", "cat"), ("feed", "feed"),
    ("agreed", "agre"), ("plastered", "plaster"), ("motoring", "motor"), ("sing", "sing"),
    ("conflated", "conflat"), ("troubled", "troubl"), ("sized", "size"), ("hopping", "hop"),
    ("falling", "fall"), ("hissing", "hiss"), ("filing", "file"), ("happy", "happi"),
    ("relational", "relat"), ("generalization", "gener"), ("adjustment", "adjust"),
    ("adoption", "adopt"), ("hopeful", "hope"), ("goodness", "good"),
    ("sunsets", "sunset"), ("sunset", "sunset"), ("paintings", "paint"), ("painted", "paint"),
    ("mountains", "mountain"), ("skies", "ski"), ("go", "go"), ("x100", "x100"),
])
def test_porter_stems(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_prefixes_start_at_the_minimum_and_include_the_word() -> None:
    assert prefixes("sunset") == ["su", "sun", "suns", "sunse", "sunset"]
    assert prefixes("a") == []
    assert all(len(p) >= PREFIX_MIN for p in prefixes("photograph"))


@pytest.mark.parametrize("identifier_", ["01HZX-abc_9", "a.b", "$x", "名前"])
def test_any_id_is_a_field_name_and_back(identifier_: str) -> None:
    name = field(identifier_)
    assert "." not in name and not name.startswith("$")
    assert identifier(name) == identifier_


def test_a_picture_is_indexed_by_stems_prefixes_and_tags_title_weighing_most() -> None:
    entries = picture_entries({"title": "Sunsets", "description": "a sunset at sea",
                               "tags": ["sky"], "price_cents": 0,
                               "created_at": "2026-01-01T00:00:00Z"}, "Ada Lovelace")
    assert entries["p:sunset"][0] == 3.0 + 1.0  # title, then description
    assert entries["p:sea"][0] == 1.0
    assert entries["p:ada"][0] == 2.0  # the owner's name
    assert entries["p^sun"][0] == 4.0 and "p^sunsets" in entries
    assert entries["t:sky"] == [0, 0, "2026-01-01T00:00:00Z"]
    assert set(person_entries("Ada Lovelace")) >= {"u:ada", "u:lovelac", "u^lov"}
