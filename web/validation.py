"""Checks of what clients send, before anything is stored or sent (pure functions).

The limits, patterns and enums of what goes on the broker are the contract's
(``topics``): a value these checks accept fits the record it is sent in. What never
leaves the edge (passwords, the upload form's framing) is limited here.
"""

from __future__ import annotations

import re
from typing import Any

from topics.comments import TEXT_MAX as COMMENT_MAX
from topics.comments import TEXT_MIN as COMMENT_MIN
from topics.comments import TEXT_PATTERN as COMMENT_PATTERN
from topics.pictures import (
    CURRENCIES,
    DESCRIPTION_MAX,
    EDITABLE,
    PRICE_MAX,
    PRICE_MIN,
    TAG_MAX,
    TAG_PATTERN,
    TAGS_MAX,
    TITLE_MAX,
)
from topics.purchases import PAYMENT_METHOD_MAX
from topics.record import ID_MAX
from topics.users import BIO_MAX, DISPLAY_NAME_MAX, EMAIL_MAX, EMAIL_PATTERN, NOTIFICATION_KINDS
from web.problems import invalid

PASSWORD_MIN, PASSWORD_MAX = 8, 128  # Firebase Auth's accounts; never on the broker
# Upload forms: what the edge keeps in memory besides the streamed file, whatever the body
# (with a Content-Length or chunked). A form needs five short fields at most.
FORM_FIELDS_MAX = 16  # non-file parts; more is a 422
FORM_FIELD_MAX_BYTES = 16 * 1024  # one field; more is a 413
FORM_FIELDS_MAX_BYTES = 32 * 1024  # all fields together; more is a 413
FORM_FRAMING_MAX_BYTES = 16 * 1024  # boundaries and part headers, for the Content-Length check
_TAG = re.compile(TAG_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)
_COMMENT = re.compile(COMMENT_PATTERN)
_EDITABLE_NAMES = ", ".join(EDITABLE)


def _title(value: Any, errors: dict) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors["title"] = f"required, 1 to {TITLE_MAX} characters"
    elif len(value.strip()) > TITLE_MAX:
        errors["title"] = f"at most {TITLE_MAX} characters"
    else:
        return value.strip()
    return None


def _description(value: Any, errors: dict) -> str | None:
    if not isinstance(value, str):
        errors["description"] = "must be text"
    elif len(value) > DESCRIPTION_MAX:
        errors["description"] = f"at most {DESCRIPTION_MAX} characters"
    else:
        return value.strip()
    return None


def _price(value: Any, errors: dict) -> int | None:
    if isinstance(value, str):
        value = value.strip()
        value = int(value) if re.fullmatch(r"-?\d{1,12}", value) else None
    if not isinstance(value, int) or isinstance(value, bool):
        errors["price_cents"] = "required, a whole number of cents"
    elif value != 0 and not PRICE_MIN <= value <= PRICE_MAX:
        errors["price_cents"] = f"0 for free, or from {PRICE_MIN} to {PRICE_MAX} cents"
    else:
        return value
    return None


def _tags(value: Any, errors: dict) -> list[str] | None:
    if isinstance(value, str):
        value = [t for t in (part.strip().lower() for part in value.split(",")) if t]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        errors["tags"] = "a list of tags, or one comma-separated string"
        return None
    tags = list(dict.fromkeys(t.strip().lower() for t in value))
    bad = [t for t in tags if not _TAG.match(t)]
    if bad:
        errors["tags"] = (
            f"{bad[0]!r} is not a tag: letters, digits, '-' or '_', at most {TAG_MAX} characters"
        )
    elif len(tags) > TAGS_MAX:
        errors["tags"] = f"at most {TAGS_MAX} tags"
    else:
        return tags
    return None


_CHECKS = {"title": _title, "description": _description, "price_cents": _price, "tags": _tags}


def new_picture(form: dict[str, str]) -> dict[str, Any]:
    """The fields of an upload form, cleaned, or a 422 problem naming each bad one."""
    errors: dict[str, str] = {}
    unknown = set(form) - {*EDITABLE, "currency"}
    for name in sorted(unknown):
        errors[name] = "unknown field"
    fields = {
        "title": _title(form.get("title"), errors),
        "description": _description(form.get("description", ""), errors),
        "price_cents": _price(form.get("price_cents"), errors),
        "tags": _tags(form.get("tags", ""), errors),
    }
    currency = form.get("currency", "usd").strip().lower()
    if currency not in CURRENCIES:
        errors["currency"] = f"one of the currencies Picasso sells in: {', '.join(CURRENCIES)}"
    if errors:
        raise invalid(errors)
    return {**fields, "currency": currency}


def picture_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The changes of a PATCH, cleaned, or a 422 problem."""
    errors: dict[str, str] = {}
    for name in sorted(set(body) - set(EDITABLE)):
        errors[name] = f"cannot be changed (editable: {_EDITABLE_NAMES})"
    changes = {name: _CHECKS[name](body[name], errors) for name in EDITABLE if name in body}
    if not body:
        errors["body"] = f"name at least one of {_EDITABLE_NAMES}"
    if errors:
        raise invalid(errors)
    return changes


def registration(body: dict[str, Any]) -> tuple[str, str, str]:
    """Email, password and display name of a sign-up, or a 422 problem."""
    errors: dict[str, str] = {}
    email = body.get("email")
    password = body.get("password")
    name = body.get("display_name")
    if (not isinstance(email, str) or not _EMAIL.match(email.strip())
            or len(email.strip()) > EMAIL_MAX):
        errors["email"] = "a valid email address"
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        errors["password"] = f"{PASSWORD_MIN} to {PASSWORD_MAX} characters"
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= DISPLAY_NAME_MAX:
        errors["display_name"] = f"1 to {DISPLAY_NAME_MAX} characters"
    if errors:
        raise invalid(errors)
    return email.strip().lower(), password, name.strip()


def credentials(body: dict[str, Any]) -> tuple[str, str]:
    email, password = body.get("email"), body.get("password")
    errors = {}
    if not isinstance(email, str) or not email.strip():
        errors["email"] = "required"
    if not isinstance(password, str) or not password:
        errors["password"] = "required"
    if errors:
        raise invalid(errors)
    return email.strip().lower(), password


# What PATCH /me changes besides ``preferences``: the profile's fields (UserUpdated).
PROFILE_FIELDS = ("bio", "avatar_picture_id")


def profile_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The profile fields a PATCH /me changes (``bio``: plain text up to BIO_MAX characters,
    kept as given; ``avatar_picture_id``: a picture id or null), or a 422 problem. Whether
    the picture is the caller's own published one is the route's to check."""
    errors: dict[str, str] = {}
    bio = body.get("bio")
    if "bio" in body and (not isinstance(bio, str) or len(bio) > BIO_MAX):
        errors["bio"] = f"text of at most {BIO_MAX} characters"
    avatar = body.get("avatar_picture_id")
    if avatar is not None and (not isinstance(avatar, str) or not 1 <= len(avatar) <= ID_MAX):
        errors["avatar_picture_id"] = "the id of one of your published pictures, or null"
    if errors:
        raise invalid(errors)
    return {name: body[name] for name in PROFILE_FIELDS if name in body}


def preference_changes(body: dict[str, Any]) -> dict[str, bool]:
    """The notification kinds a PATCH /me turns on or off, or a 422 problem."""
    errors: dict[str, str] = {}
    for name in sorted(set(body) - {"preferences"}):
        errors[name] = ("cannot be changed here (changeable: preferences, "
                        f"{', '.join(PROFILE_FIELDS)})")
    preferences = body.get("preferences")
    kinds = ", ".join(NOTIFICATION_KINDS)
    if not isinstance(preferences, dict) or not preferences:
        errors["preferences"] = f"an object naming at least one of {kinds}, each true or false"
        preferences = {}
    for kind, on in preferences.items():
        if kind not in NOTIFICATION_KINDS:
            errors[f"preferences.{kind}"] = f"not a kind of notification (kinds: {kinds})"
        elif not isinstance(on, bool):
            errors[f"preferences.{kind}"] = "true or false"
    if errors:
        raise invalid(errors)
    return dict(preferences)


def purchase_request(body: dict[str, Any]) -> tuple[str | None, int | None]:
    """The payment method and the price the buyer saw (cents) of a purchase, or a 422."""
    errors: dict[str, str] = {}
    for name in sorted(set(body) - {"payment_method", "expected_price_cents"}):
        errors[name] = "unknown field (known: payment_method, expected_price_cents)"
    payment_method = body.get("payment_method")
    if payment_method is not None and (not isinstance(payment_method, str)
                                       or not 1 <= len(payment_method) <= PAYMENT_METHOD_MAX):
        errors["payment_method"] = "a Stripe payment method id"
    expected = body.get("expected_price_cents")
    if expected is not None and (not isinstance(expected, int) or isinstance(expected, bool)
                                 or not 0 <= expected <= PRICE_MAX):
        errors["expected_price_cents"] = f"the price shown, in cents, 0 to {PRICE_MAX}"
    if errors:
        raise invalid(errors)
    return payment_method, expected


def comment(body: dict[str, Any]) -> str:
    """A new comment's text, trimmed, or a 422 problem: plain text (markup is neither
    refused nor interpreted), within the contract's limits (topics.comments)."""
    errors: dict[str, str] = {}
    for name in sorted(set(body) - {"text"}):
        errors[name] = "unknown field (known: text)"
    text = body.get("text")
    limits = f"{COMMENT_MIN} to {COMMENT_MAX} characters"
    if not isinstance(text, str):
        errors["text"] = f"required: text, {limits}"
    else:
        text = text.replace("\r\n", "\n").strip()
        if not COMMENT_MIN <= len(text) <= COMMENT_MAX:
            errors["text"] = f"{limits} after trimming white space"
        elif not _COMMENT.match(text):
            errors["text"] = "no control characters (line feeds are fine)"
    if errors:
        raise invalid(errors)
    return text
