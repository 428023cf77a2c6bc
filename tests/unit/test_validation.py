"""The edge's input checks: what is accepted, cleaned, and what is refused with which field."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from topics.pictures import (
    CURRENCIES,
    DESCRIPTION_MAX,
    EDITABLE,
    EDITABLE_FIELDS,
    PRICE_MAX,
    PRICE_MIN,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    UPLOAD_PICTURE,
)
from topics.purchases import PAYMENT_METHOD_MAX, PURCHASE_PICTURE
from topics.registry import validate_data
from topics.users import DISPLAY_NAME, DISPLAY_NAME_MAX, EMAIL, EMAIL_MAX
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


# --- the edge accepts what the contract accepts ----------------------------------------

def _accepted(call, *args) -> bool:
    try:
        call(*args)
    except Problem:
        return False
    return True


def _fits(schema: dict, value: object) -> bool:
    return Draft202012Validator(schema).is_valid(value)


@pytest.mark.parametrize("field, values", [
    ("title", ["t", "x" * TITLE_MAX, "x" * (TITLE_MAX + 1)]),
    ("description", ["", "d" * DESCRIPTION_MAX, "d" * (DESCRIPTION_MAX + 1)]),
    ("price_cents", [0, 1, PRICE_MIN - 1, PRICE_MIN, PRICE_MAX, PRICE_MAX + 1, -PRICE_MIN]),
    ("tags", [[], ["a" * TAG_MAX], ["a" * (TAG_MAX + 1)], ["-a"], ["a b"],
              [f"t{i}" for i in range(TAGS_MAX)], [f"t{i}" for i in range(TAGS_MAX + 1)]]),
])
def test_picture_fields_are_checked_by_the_contracts_limits(field: str, values: list) -> None:
    for value in values:
        assert _accepted(validation.picture_changes, {field: value}) == _fits(
            EDITABLE_FIELDS[field], value), (field, value)


def test_every_editable_field_can_be_changed() -> None:
    values = {"title": "t", "description": "d", "price_cents": PRICE_MIN, "tags": ["a"]}
    assert set(values) == set(EDITABLE)
    assert validation.picture_changes(values) == values


@pytest.mark.parametrize("currency", CURRENCIES)
def test_an_upload_the_edge_accepts_is_a_valid_upload_command(currency: str) -> None:
    fields = validation.new_picture({"title": " t ", "price_cents": str(PRICE_MAX),
                                     "tags": "A,b", "currency": currency.upper()})
    validate_data(UPLOAD_PICTURE, {"picture_id": "p1", "owner_id": "u1",
                                   "blob_key": "incoming/u1/p1", **fields})


@pytest.mark.parametrize("email", [
    "ada@example.com", "a@b.co", "a@b", "@b.co", "a b@c.de", "a@b@c.de",
    "a@" + "b" * (EMAIL_MAX - 5) + ".co", "a@" + "b" * (EMAIL_MAX - 4) + ".co",
])
def test_an_email_is_checked_by_the_contracts_pattern(email: str) -> None:
    body = {"email": email, "password": "long enough", "display_name": "Ada"}
    assert _accepted(validation.registration, body) == _fits(EMAIL, email), email


@pytest.mark.parametrize("name", ["A", "a" * DISPLAY_NAME_MAX, "a" * (DISPLAY_NAME_MAX + 1)])
def test_a_display_name_is_checked_by_the_contracts_limits(name: str) -> None:
    body = {"email": "ada@example.com", "password": "long enough", "display_name": name}
    assert _accepted(validation.registration, body) == _fits(DISPLAY_NAME, name), len(name)


def test_a_payment_method_is_checked_by_the_contracts_limit() -> None:
    limit = {"minLength": 1, **PURCHASE_PICTURE.properties["payment_method"]}
    for method in ("pm_card_visa", "p" * PAYMENT_METHOD_MAX, "p" * (PAYMENT_METHOD_MAX + 1)):
        assert _accepted(validation.purchase_request, {"payment_method": method}) == _fits(
            limit, method), len(method)
