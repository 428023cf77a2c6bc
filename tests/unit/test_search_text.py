"""How search reads text (picasso.search): words and Porter's stems; what the search
service writes for a picture (agents.search.index); and the edge's copy of the index
(web.search.MemoryIndex) taking documents in and out. The same functions run against the
real servers in tests/integration/test_search.py."""

from __future__ import annotations

import pytest

from agents.search.index import document, person_terms, picture_terms
from picasso.search import PERSON, PICTURE, stem, words
from web.search import MemoryIndex


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


def test_a_picture_is_indexed_by_stems_words_and_tags_title_weighing_most() -> None:
    terms = picture_terms({"title": "Sunsets", "description": "a sunset at sea",
                           "tags": ["sky"], "price_cents": 0,
                           "created_at": "2026-01-01T00:00:00Z"}, "Ada Lovelace")
    assert terms["p:sunset"] == 3.0 + 1.0  # title, then description
    assert terms["p=sunsets"] == 3.0 and terms["p=sunset"] == 1.0
    assert terms["p:sea"] == 1.0
    assert terms["p:ada"] == 2.0  # the owner's name
    assert terms["t:sky"] == 0.0
    assert set(person_terms("Ada Lovelace")) == {"u:ada", "u=ada", "u:lovelac", "u=lovelace"}


def picture(ref: str, title: str, price: int = 0, at: str = "2026-01-01T00:00:00.000Z",
            tags: tuple[str, ...] = ()) -> dict:
    terms = picture_terms({"title": title, "tags": list(tags)}, None) if title else {}
    return document(PICTURE, ref, terms, price_cents=price, created_at=at)


def test_the_edges_copy_ranks_replaces_and_forgets() -> None:
    index = MemoryIndex(db=None)
    index.apply(picture("a", "Sunset harbour", at="2026-01-01T00:00:00.000Z"))
    index.apply(picture("b", "Sunset", price=500, at="2026-01-02T00:00:00.000Z"))
    index.apply(picture("c", "Sundial", tags=("garden",)))
    index.apply(document(PERSON, "ada", person_terms("Ada Sunderland")))

    def found(*terms: str) -> list[str]:
        return [row[3] for row in index.rank(list(terms), "p:", "p=")]

    assert found("sunsets") == ["b", "a"]  # a stem; equal weights, the newest first
    assert found("harbour", "sunset") == ["a", "b"]  # both words first
    assert found("sun") == ["c", "b", "a"]  # a beginning: sundial (the rarer word), sunset
    assert found("s") == []  # too short a beginning
    assert [r[3] for r in index.rank(["sun"], "u:", "u=")] == ["ada"]
    assert [r[3] for r in index.rank(["sun"], "p:", "p=", lambda ref: ref != "b")] == \
        ["c", "a"]

    index.apply(picture("a", "Harbour at dawn"))  # an edit replaces the old words
    assert found("sunset") == ["b"]
    index.apply(picture("b", ""))  # no longer published: no keys
    assert found("sunset") == [] and "b" not in index.prices
    assert "p:sunset" not in index.postings


def test_a_page_picked_from_the_matches_is_the_full_ranking_cut_after_the_cursor() -> None:
    """Pages picked with ``most`` and ``after`` walk the very order of the full ranking,
    ties of words and score broken by time (equal times too) and then by id."""
    index = MemoryIndex(db=None)
    titles = ["Sunset harbour", "Sunset", "Harbour", "Sunset sunset harbour", "Sundial sea"]
    for n in range(60):
        index.apply(picture(f"x{n:02d}", titles[n % 5],
                            at=f"2026-01-{1 + n % 4:02d}T00:00:00.000Z" if n % 7 else ""))
    for terms in (["sunset"], ["harbour", "sun"], ["sea", "harbour", "sunset"]):
        full = index.rank(terms, "p:", "p=")
        assert len(full) > 20
        walked, after = [], None
        while True:
            page = index.rank(terms, "p:", "p=", after=after, most=7)
            walked += page
            if len(page) < 7:
                break
            after = page[-1]
        assert walked == full
