"""The edge's input checks: what is accepted, cleaned, and what is refused with which field."""

from __future__ import annotations

import pytest

from web import validation
from web.problems import Problem


def refused(call, *args) -> dict:
    with pytest.raises(Problem) as caught:
        call(*args)
    assert caught.value.status_code == 422
    return caught.value.body_dict["errors"]


def test_new_picture_cleans_fields() -> None:
    fields = validation.new_picture({
        "title": "  Golden Gate ", "price_cents": "500", "tags": "Bridge, dusk,,bridge",
        "currency": "EUR",
    })
    assert fields == {"title": "Golden Gate", "description": "", "price_cents": 500,
                      "tags": ["bridge", "dusk"], "currency": "eur"}
    assert validation.new_picture({"title": "Free", "price_cents": "0"})["price_cents"] == 0


@pytest.mark.parametrize("form, field", [
    ({"price_cents": "0"}, "title"),
    ({"title": "x" * 141, "price_cents": "0"}, "title"),
    ({"title": "t"}, "price_cents"),
    ({"title": "t", "price_cents": "49"}, "price_cents"),
    ({"title": "t", "price_cents": "-50"}, "price_cents"),
    ({"title": "t", "price_cents": "5.5"}, "price_cents"),
    ({"title": "t", "price_cents": "100000001"}, "price_cents"),
    ({"title": "t", "price_cents": "0", "description": "d" * 2001}, "description"),
    ({"title": "t", "price_cents": "0", "tags": "ok,not ok"}, "tags"),
    ({"title": "t", "price_cents": "0", "tags": ",".join(f"t{i}" for i in range(21))}, "tags"),
    ({"title": "t", "price_cents": "0", "currency": "dollars"}, "currency"),
    ({"title": "t", "price_cents": "0", "owner_id": "someone"}, "owner_id"),
])
def test_new_picture_refusals_name_the_field(form: dict, field: str) -> None:
    assert field in refused(validation.new_picture, form)


def test_picture_changes() -> None:
    assert validation.picture_changes({"title": " New ", "tags": ["A", "b"]}) == {
        "title": "New", "tags": ["a", "b"]}
    assert validation.picture_changes({"price_cents": 0}) == {"price_cents": 0}
    assert "body" in refused(validation.picture_changes, {})
    assert "price_cents" in refused(validation.picture_changes, {"price_cents": True})
    assert "status" in refused(validation.picture_changes, {"status": "published"})


def test_registration_and_credentials() -> None:
    assert validation.registration({
        "email": " Ada@Example.com ", "password": "long enough", "display_name": " Ada "
    }) == ("ada@example.com", "long enough", "Ada")
    errors = refused(validation.registration, {"email": "nope", "password": "short"})
    assert set(errors) == {"email", "password", "display_name"}
    assert set(refused(validation.credentials, {})) == {"email", "password"}
