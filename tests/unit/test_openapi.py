"""The served OpenAPI document: valid OpenAPI 3.1, and true to the routes and shapes."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from jsonschema import Draft202012Validator, ValidationError
from openapi_spec_validator import validate

from agents.purchases.ledger import Purchase, Sale, SellerTotal
from topics.comments import TEXT_MAX as COMMENT_MAX
from topics.comments import TEXT_MIN as COMMENT_MIN
from topics.comments import TEXT_PATTERN as COMMENT_PATTERN
from topics.pictures import (
    CURRENCIES,
    DESCRIPTION_MAX,
    EDITABLE,
    IMAGE_FORMATS,
    PRICE_MAX,
    PRICE_MIN,
    TAG_PATTERN,
    TAGS_MAX,
    TITLE_MAX,
)
from topics.purchases import IDEMPOTENCY_KEY_MAX, PAYMENT_METHOD_MAX, STATUSES
from topics.registry import SCHEMA_DIR
from topics.users import (
    BIO_MAX,
    DISPLAY_NAME_MAX,
    EMAIL_MAX,
    EMAIL_PATTERN,
    NOTIFICATION_KINDS,
)
from web.auth import Session
from web.openapi import RESOURCES, common, openapi_document
from web.problems import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from web.problems import invalid
from web.readmodels import MAX_WAIT_MS, ReadModels
from web.routes import MODULES as ROUTE_MODULES
from web.routes import purchases

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# Previews and thumbnails of the local directory blob store, and the browser UI's page and
# files: served by the edge, but not the API.
UNDOCUMENTED = {("GET", "/media/{key}"), ("GET", "/"), ("GET", "/app/{view}"),
                ("GET", "/static/{path}")}
SIGNED_IN = [{"bearer": []}, {"browserSession": []}]
OPTIONAL = [{}, {"bearer": []}, {"browserSession": []}]


def openapi_path(aiohttp_path: str) -> str:
    """``/media/{key:.+}`` as OpenAPI writes it: ``/media/{key}``."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", aiohttp_path)


def app_routes() -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route the edge's application registers."""
    found = set()
    for module in ROUTE_MODULES:
        for route in module.routes:
            assert isinstance(route, web.RouteDef)
            found.add((route.method.upper(), openapi_path(route.path)))
    return found


def documented_operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    }


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/components/...``) to what it names."""
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def schema_validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    """A JSON Schema validator of ``components.schemas.<name>``, its $refs resolvable."""
    root = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return Draft202012Validator(root)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document()


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    validate(doc)
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"] == "Picasso"
    assert doc["info"]["version"] == "1.0.0"
    assert doc["info"]["description"]
    assert doc["servers"] == [{"url": "/"}]
    json.dumps(doc)  # served as JSON as it is


def test_the_document_is_built_once() -> None:
    assert openapi_document() is openapi_document()


def test_only_media_and_the_ui_pages_are_left_out() -> None:
    assert UNDOCUMENTED <= app_routes()


@pytest.mark.parametrize("method,path", sorted(app_routes() - UNDOCUMENTED))
def test_every_route_is_documented(doc: dict[str, Any], method: str, path: str) -> None:
    assert path in doc["paths"], f"{path} is routed but not documented"
    assert method.lower() in doc["paths"][path], f"{method} {path} is not documented"


def test_every_documented_operation_is_routed(doc: dict[str, Any]) -> None:
    assert set(documented_operations(doc)) <= app_routes() - UNDOCUMENTED


def test_purchases_are_documented_as_built(doc: dict[str, Any]) -> None:
    assert "not built" not in doc["info"]["description"]
    assert {"purchases"} <= {tag["name"] for tag in doc["tags"]}


def test_operations_have_unique_ids_summaries_and_responses(doc: dict[str, Any]) -> None:
    operations = documented_operations(doc)
    ids = [op["operationId"] for op in operations.values()]
    assert len(ids) == len(set(ids))
    for key, op in operations.items():
        assert op["summary"], key
        assert any(code[0] in "23" for code in op["responses"]), key  # 2xx, or a redirect


def test_path_parameters_match_the_templates(doc: dict[str, Any]) -> None:
    for (method, path), op in documented_operations(doc).items():
        parameters = [resolve(doc, p) for p in op.get("parameters", [])]
        declared = {p["name"] for p in parameters if p["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)


@pytest.mark.parametrize("method,path,security", [
    ("POST", "/api/v1/auth/register", None),
    ("POST", "/api/v1/auth/login", None),
    ("POST", "/api/v1/auth/refresh", None),
    ("GET", "/api/v1/me", SIGNED_IN),
    ("PATCH", "/api/v1/me", SIGNED_IN),
    ("GET", "/api/v1/unsubscribe", None),
    ("POST", "/api/v1/unsubscribe", None),
    ("POST", "/api/v1/pictures", SIGNED_IN),
    ("GET", "/api/v1/pictures", OPTIONAL),
    ("GET", "/api/v1/search", OPTIONAL),
    ("GET", "/api/v1/users/{user_id}/pictures", OPTIONAL),
    ("GET", "/api/v1/pictures/{picture_id}", OPTIONAL),
    ("PATCH", "/api/v1/pictures/{picture_id}", SIGNED_IN),
    ("DELETE", "/api/v1/pictures/{picture_id}", SIGNED_IN),
    ("PUT", "/api/v1/pictures/{picture_id}/like", SIGNED_IN),
    ("DELETE", "/api/v1/pictures/{picture_id}/like", SIGNED_IN),
    ("POST", "/api/v1/pictures/{picture_id}/comments", SIGNED_IN),
    ("GET", "/api/v1/pictures/{picture_id}/comments", OPTIONAL),
    ("DELETE", "/api/v1/pictures/{picture_id}/comments/{comment_id}", SIGNED_IN),
    ("GET", "/api/v1/users/{user_id}", OPTIONAL),
    ("PUT", "/api/v1/users/{user_id}/follow", SIGNED_IN),
    ("DELETE", "/api/v1/users/{user_id}/follow", SIGNED_IN),
    ("GET", "/api/v1/users/{user_id}/followers", None),
    ("GET", "/api/v1/users/{user_id}/following", None),
    ("GET", "/api/v1/me/notifications", SIGNED_IN),
    ("GET", "/api/v1/me/notifications/unread_count", SIGNED_IN),
    ("POST", "/api/v1/me/notifications/read", SIGNED_IN),
    ("POST", "/api/v1/pictures/{picture_id}/purchases", SIGNED_IN),
    ("GET", "/api/v1/purchases/{purchase_id}", SIGNED_IN),
    ("GET", "/api/v1/me/purchases", SIGNED_IN),
    ("GET", "/api/v1/me/sales", SIGNED_IN),
    ("POST", "/api/v1/purchases/{purchase_id}/refund", SIGNED_IN),
    ("POST", "/api/v1/webhooks/stripe", None),
    ("GET", "/api/v1/pictures/{picture_id}/original", SIGNED_IN),
    ("GET", "/api/v1/downloads/{filename}", None),
    ("GET", "/healthz", None),
    ("POST", "/api/v1/session", None),
    ("POST", "/api/v1/session/register", None),
    ("GET", "/api/v1/session", OPTIONAL),
    ("GET", "/api/v1/config", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", None),
])
def test_who_may_call(doc: dict[str, Any], method: str, path: str,
                      security: list | None) -> None:
    op = documented_operations(doc)[(method, path)]
    assert op.get("security") == security
    assert doc.get("security") is None  # no global requirement to override
    if security and {} not in security:
        assert "401" in op["responses"]


def test_the_bearer_scheme(doc: dict[str, Any]) -> None:
    scheme = doc["components"]["securitySchemes"]["bearer"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert "Firebase" in scheme["description"]


def test_errors_are_problem_json(doc: dict[str, Any]) -> None:
    for key, op in documented_operations(doc).items():
        for code, answer in op["responses"].items():
            if key == ("GET", "/readyz") or (code != "default" and int(code) < 400):
                continue
            assert "$ref" in answer, (key, code)  # the shared component, not a copy
            content = resolve(doc, answer)["content"]
            assert list(content) == [PROBLEM_CONTENT_TYPE], (key, code)
            assert content[PROBLEM_CONTENT_TYPE]["schema"] == {
                "$ref": "#/components/schemas/Problem"}


@pytest.mark.parametrize("method,path,statuses", [
    ("POST", "/api/v1/auth/register", {"201", "409", "422"}),
    ("POST", "/api/v1/auth/login", {"200", "401"}),
    ("POST", "/api/v1/pictures", {"202", "400", "401", "413", "415", "422"}),
    ("GET", "/api/v1/pictures/{picture_id}", {"200", "404"}),
    ("PATCH", "/api/v1/pictures/{picture_id}", {"202", "401", "403", "404", "409", "422"}),
    ("DELETE", "/api/v1/pictures/{picture_id}", {"202", "401", "403", "404"}),
    ("PUT", "/api/v1/pictures/{picture_id}/like", {"202", "401", "404"}),
    ("POST", "/api/v1/pictures/{picture_id}/comments", {"202", "401", "404", "422", "429"}),
    ("GET", "/api/v1/pictures/{picture_id}/comments", {"200", "400", "404", "422"}),
    ("DELETE", "/api/v1/pictures/{picture_id}/comments/{comment_id}",
     {"202", "401", "403", "404", "429"}),
    ("PUT", "/api/v1/users/{user_id}/follow", {"202", "401", "404", "422"}),
    ("DELETE", "/api/v1/users/{user_id}/follow", {"202", "401", "404", "422"}),
    ("GET", "/api/v1/users/{user_id}", {"200", "404"}),
    ("GET", "/api/v1/users/{user_id}/followers", {"200", "400", "404"}),
    ("GET", "/api/v1/search", {"200", "400", "422"}),
    ("GET", "/api/v1/users/{user_id}/following", {"200", "400", "404"}),
    ("GET", "/api/v1/me/notifications", {"200", "400", "401", "422"}),
    ("GET", "/api/v1/me/notifications/unread_count", {"200", "401"}),
    ("POST", "/api/v1/me/notifications/read", {"202", "400", "401", "422"}),
    ("POST", "/api/v1/pictures/{picture_id}/purchases", {"202", "401", "404", "409", "422"}),
    ("GET", "/api/v1/purchases/{purchase_id}", {"200", "401", "404"}),
    ("POST", "/api/v1/purchases/{purchase_id}/refund", {"202", "401", "403", "404", "409"}),
    ("POST", "/api/v1/webhooks/stripe", {"200", "400"}),
    ("GET", "/api/v1/pictures/{picture_id}/original", {"302", "401", "403", "404"}),
    ("GET", "/api/v1/downloads/{filename}", {"200", "403", "404"}),
    ("GET", "/readyz", {"200", "503"}),
    ("PATCH", "/api/v1/me", {"202", "401", "422"}),
    ("POST", "/api/v1/unsubscribe", {"202", "403"}),
])
def test_status_codes_of_the_contract(doc: dict[str, Any], method: str, path: str,
                                      statuses: set[str]) -> None:
    assert statuses <= set(documented_operations(doc)[(method, path)]["responses"])


@pytest.mark.parametrize("method,path", [
    ("PATCH", "/api/v1/pictures/{picture_id}"),
    ("DELETE", "/api/v1/pictures/{picture_id}"),
    ("PUT", "/api/v1/pictures/{picture_id}/like"),
    ("DELETE", "/api/v1/pictures/{picture_id}/like"),
    ("POST", "/api/v1/pictures/{picture_id}/comments"),
    ("DELETE", "/api/v1/pictures/{picture_id}/comments/{comment_id}"),
    ("POST", "/api/v1/me/notifications/read"),
    ("POST", "/api/v1/pictures"),
    ("PUT", "/api/v1/users/{user_id}/follow"),
    ("DELETE", "/api/v1/users/{user_id}/follow"),
    ("PATCH", "/api/v1/me"),
])
def test_writes_answer_202_with_a_command_id_and_a_location(
        doc: dict[str, Any], method: str, path: str) -> None:
    answer = resolve(doc, documented_operations(doc)[(method, path)]["responses"]["202"])
    assert "Location" in answer["headers"]
    schema = resolve(doc, answer["content"]["application/json"]["schema"])
    assert "command_id" in schema["required"]


def test_the_location_names_after(doc: dict[str, Any]) -> None:
    assert "?after=<command_id>" in doc["components"]["headers"]["Location"]["description"]


def test_query_parameters(doc: dict[str, Any]) -> None:
    operations = documented_operations(doc)

    def params(method: str, path: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in operations[(method, path)].get("parameters", [])}

    feed = params("GET", "/api/v1/pictures")
    assert set(feed) == {"limit", "cursor", "owner", "tag", "sort", "window"}
    assert feed["sort"]["schema"]["enum"] == ["newest", "trending"]
    assert feed["window"]["schema"]["enum"] == ["hour", "day"]
    assert feed["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100,
                                       "default": 20}
    assert set(params("GET", "/api/v1/users/{user_id}/pictures")) == {
        "user_id", "limit", "cursor", "tag"}
    one = params("GET", "/api/v1/pictures/{picture_id}")
    assert set(one) == {"picture_id", "wait_ms", "after"}
    assert one["wait_ms"]["schema"]["minimum"] == 0
    assert one["wait_ms"]["schema"]["maximum"] == MAX_WAIT_MS == 10_000


def test_the_upload_form(doc: dict[str, Any]) -> None:
    body = documented_operations(doc)[("POST", "/api/v1/pictures")]["requestBody"]
    form = body["content"]["multipart/form-data"]
    schema = resolve(doc, form["schema"])
    assert set(schema["required"]) == {"file", "title", "price_cents"}
    fields = schema["properties"]
    assert fields["file"]["format"] == "binary"
    assert form["encoding"]["file"]["contentType"].split(", ") == list(IMAGE_FORMATS.values())
    assert (fields["title"]["minLength"], fields["title"]["maxLength"]) == (1, TITLE_MAX)
    assert fields["description"]["maxLength"] == DESCRIPTION_MAX
    assert fields["currency"]["default"] == "usd"
    assert fields["tags"]["type"] == "string"
    price = Draft202012Validator(fields["price_cents"])
    for good in (0, PRICE_MIN, PRICE_MAX):
        assert price.is_valid(good), good
    for bad in (1, PRICE_MIN - 1, PRICE_MAX + 1, -5, 12.5):
        assert not price.is_valid(bad), bad


def test_the_json_bodies(doc: dict[str, Any]) -> None:
    registration = schema_validator(doc, "Registration")
    assert registration.is_valid({"email": "a@b.co", "password": "x" * 8, "display_name": "A"})
    assert not registration.is_valid({"email": "a@b.co", "password": "x" * 7,
                                      "display_name": "A"})
    assert not registration.is_valid({"email": "a@b.co", "password": "x" * 129,
                                      "display_name": "A"})
    assert not registration.is_valid({"email": "a@b.co", "password": "x" * 8,
                                      "display_name": "A" * 81})
    changes = schema_validator(doc, "PictureChanges")
    assert changes.is_valid({"title": "New"})
    assert changes.is_valid({"tags": ["sea", "sky"]})
    assert changes.is_valid({"tags": "sea,sky"})
    assert not changes.is_valid({})
    assert not changes.is_valid({"owner_id": "someone"})
    for path in ("/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh"):
        body = documented_operations(doc)[("POST", path)]["requestBody"]
        assert list(body["content"]) == ["application/json"], path


class _Blobs:
    def public_url(self, key: str) -> str:
        return f"/media/{key}"


def _picture_doc(**changes: Any) -> dict[str, Any]:
    return {
        "_id": "p1", "owner_id": "u1", "title": "Sunset", "description": "",
        "price_cents": 500, "currency": "usd", "tags": ["sea"], "status": "published",
        "width": 800, "height": 600, "thumbnail_key": "public/p1/thumb.webp",
        "preview_key": "public/p1/preview.webp", "created_at": "2024-05-01T12:00:00Z",
        **changes,
    }


@pytest.mark.parametrize("changes", [
    {},
    {"status": "processing", "width": None, "height": None, "thumbnail_key": None},
    {"status": "rejected", "reason": "not an image", "thumbnail_key": None},
    {"status": "deleted", "price_cents": 0},
], ids=["published", "processing", "rejected", "deleted"])
def test_the_read_models_pictures_match_the_schema(doc: dict[str, Any],
                                                   changes: dict[str, Any]) -> None:
    read = ReadModels(None, _Blobs())  # type: ignore[arg-type]  # _picture needs no db
    picture = read._picture(_picture_doc(**changes), {"u1": "Ann"}, {"p1": 3})
    schema = resolve(doc, {"$ref": "#/components/schemas/Picture"})
    assert set(picture) <= set(schema["properties"])
    schema_validator(doc, "Picture").validate(picture)
    schema_validator(doc, "PicturePage").validate({"items": [picture], "next_cursor": None})


def test_sessions_match_the_schema(doc: dict[str, Any]) -> None:
    session = Session("u1", "id-token", "refresh-token", 3600).to_json()
    schema_validator(doc, "Session").validate(session)
    assert set(session) == set(resolve(doc, {"$ref": "#/components/schemas/Session"})[
        "properties"])


def test_problems_match_the_schema(doc: dict[str, Any]) -> None:
    problem = invalid({"title": "at most 140 characters"}).body_dict
    schema_validator(doc, "Problem").validate(problem)
    assert problem["errors"] == {"title": "at most 140 characters"}


def test_accepted_answers_match_the_schemas(doc: dict[str, Any]) -> None:
    accepted = schema_validator(doc, "Accepted")
    accepted.validate({"picture_id": "p1", "command_id": "c1"})  # a like
    accepted.validate({"picture_id": "p1", "status": "updating", "command_id": "c1"})
    schema_validator(doc, "UploadAccepted").validate(
        {"picture_id": "p1", "status": "processing", "command_id": "c1"})
    schema_validator(doc, "Readiness").validate(
        {"ready": False, "checks": {"broker": "ok", "mongodb": "failed", "auth": "timed out"}})
    with pytest.raises(ValidationError):  # error text is never answered
        schema_validator(doc, "Readiness").validate(
            {"ready": False, "checks": {"mongodb": "failed: TimeoutError()"}})


def test_the_purchase_request(doc: dict[str, Any]) -> None:
    op = documented_operations(doc)[("POST", "/api/v1/pictures/{picture_id}/purchases")]
    assert op["requestBody"]["required"] is False
    key = {p["name"]: p for p in op["parameters"]}["Idempotency-Key"]
    assert key["in"] == "header"
    assert key["schema"]["maxLength"] == IDEMPOTENCY_KEY_MAX
    answer = op["responses"]["202"]
    assert "Location" in answer["headers"]
    request = schema_validator(doc, "PurchaseRequest")
    assert request.is_valid({})
    assert request.is_valid({"payment_method": "pm_card_visa"})
    assert not request.is_valid({"payment_method": ""})
    assert request.is_valid({"payment_method": "pm_card_visa", "expected_price_cents": 1500})
    assert request.is_valid({"expected_price_cents": 0})
    for bad in (-1, 12.5, "1500", PRICE_MAX + 1):
        assert not request.is_valid({"expected_price_cents": bad}), bad
    assert not request.is_valid({"price": 1500})  # unknown fields are refused, as the edge does
    schema_validator(doc, "PurchaseAccepted").validate({"purchase_id": "b1",
                                                        "status": "pending"})
    webhook = documented_operations(doc)[("POST", "/api/v1/webhooks/stripe")]
    assert {p["name"]: p for p in webhook["parameters"]}["Stripe-Signature"]["required"]
    schema_validator(doc, "WebhookReceipt").validate({"received": True, "used": False})


def _purchase(**changes: Any) -> Purchase:
    fields: dict[str, Any] = {
        "purchase_id": "b1", "picture_id": "p1", "buyer_id": "u2", "seller_id": "u1",
        "amount_cents": 500, "currency": "usd", "status": "pending",
        "payment_intent_id": None, "client_secret": None, "failure_reason": None,
        "idempotency_key": None, "created_at": datetime(2024, 5, 1, 12, tzinfo=UTC),
        "updated_at": datetime(2024, 5, 1, 12, tzinfo=UTC), "completed_at": None,
        **changes,
    }
    return Purchase(**fields)


@pytest.mark.parametrize("changes", [
    {},
    {"status": "awaiting_payment", "payment_intent_id": "pi_1", "client_secret": "pi_1_s"},
    {"status": "completed", "payment_intent_id": "pi_1", "client_secret": "pi_1_s",
     "completed_at": datetime(2024, 5, 1, 12, 1, tzinfo=UTC)},
    {"status": "failed", "failure_reason": "card declined"},
    {"status": "refunded", "completed_at": datetime(2024, 5, 1, 12, 1, tzinfo=UTC)},
], ids=["pending", "awaiting_payment", "completed", "failed", "refunded"])
def test_purchases_match_the_schema(doc: dict[str, Any], changes: dict[str, Any]) -> None:
    shown = purchases._purchase_json(_purchase(**changes).as_dict())
    schema = resolve(doc, {"$ref": "#/components/schemas/Purchase"})
    assert set(shown) == set(schema["properties"]) == set(purchases._SHOWN)
    schema_validator(doc, "Purchase").validate(shown)
    schema_validator(doc, "PurchaseList").validate({"items": [shown]})
    if shown["status"] != "awaiting_payment":
        assert shown["client_secret"] is None


def test_the_purchase_statuses_are_the_ledgers(doc: dict[str, Any]) -> None:
    schema = resolve(doc, {"$ref": "#/components/schemas/Purchase"})
    assert schema["properties"]["status"]["enum"] == list(STATUSES)
    assert not schema_validator(doc, "Purchase").is_valid(
        {**purchases._purchase_json(_purchase().as_dict()), "status": "paid"})


def test_sales_match_the_schema(doc: dict[str, Any]) -> None:
    sale = Sale("u1", "b1", "p1", "u2", 500, "usd",
                datetime(2024, 5, 1, 12, tzinfo=UTC)).as_dict()
    schema = resolve(doc, {"$ref": "#/components/schemas/Sale"})
    assert set(sale) == set(schema["properties"])
    total = asdict(SellerTotal("usd", 1, 500))
    schema_validator(doc, "SalesReport").validate({"items": [sale], "totals": [total]})
    schema_validator(doc, "SalesReport").validate({"items": [], "totals": []})


def test_the_mail_preferences(doc: dict[str, Any]) -> None:
    kinds = set(NOTIFICATION_KINDS)
    preferences = resolve(doc, {"$ref": "#/components/schemas/Preferences"})
    assert set(preferences["properties"]) == set(preferences["required"]) == kinds
    me = schema_validator(doc, "Me")
    me.validate({"user_id": "u1", "email": "a@b.co", "display_name": "A",
                 "preferences": dict.fromkeys(kinds, True), "bio": "", "avatar_picture_id": None})
    changes = schema_validator(doc, "PreferenceChanges")
    assert changes.is_valid({"preferences": {"picture_published": False}})
    assert changes.is_valid({"bio": "<b>plain</b> text", "avatar_picture_id": None})
    assert changes.is_valid({"avatar_picture_id": "p1"})
    assert not changes.is_valid({"bio": "x" * (BIO_MAX + 1)})
    assert not changes.is_valid({})
    assert not changes.is_valid({"preferences": {}})
    assert not changes.is_valid({"preferences": {"receipt": False}})
    assert not changes.is_valid({"preferences": {"picture_sold": "no"}})
    assert not changes.is_valid({"display_name": "B", "preferences": {"picture_sold": True}})
    schema_validator(doc, "PreferencesAccepted").validate(
        {"user_id": "u1", "preferences": dict.fromkeys(kinds, True), "command_id": "c1"})
    schema_validator(doc, "Unsubscribed").validate(
        {"user_id": "u1", "turned_off": ["picture_sold"], "command_id": "c1"})


# --- the contract's facts, in the served document and in the records' JSON Schemas ----

# Each field the contract limits, by its name wherever it appears, and the limits it must
# carry (a keyword left out is not checked: e.g. signing in does not limit the email).
FIELD_LIMITS: dict[str, dict[str, Any]] = {
    "title": {"minLength": 1, "maxLength": TITLE_MAX},
    "description": {"maxLength": DESCRIPTION_MAX},
    "price_cents": {"minimum": PRICE_MIN, "maximum": PRICE_MAX},
    "expected_price_cents": {"maximum": PRICE_MAX},
    "tags": {"maxItems": TAGS_MAX, "pattern": TAG_PATTERN},
    "email": {"maxLength": EMAIL_MAX, "pattern": EMAIL_PATTERN},
    "display_name": {"minLength": 1, "maxLength": DISPLAY_NAME_MAX},
    "payment_method": {"maxLength": PAYMENT_METHOD_MAX},
    "idempotency_key": {"maxLength": IDEMPOTENCY_KEY_MAX},
    "text": {"minLength": COMMENT_MIN, "maxLength": COMMENT_MAX, "pattern": COMMENT_PATTERN},
}


def _keywords(schema: Any) -> dict[str, set]:
    """Every keyword's values in ``schema`` and its alternatives and items, not below
    nested objects' properties (those are other fields)."""
    found: dict[str, set] = {}
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("anyOf", "oneOf", "allOf"):
                for branch in value:
                    for k, v in _keywords(branch).items():
                        found.setdefault(k, set()).update(v)
            elif key == "items":
                for k, v in _keywords(value).items():
                    found.setdefault(k, set()).update(v)
            elif not isinstance(value, (dict, list)):
                found.setdefault(key, set()).add(value)
    return found


def _limited_fields(node: Any) -> list[tuple[str, dict[str, set]]]:
    """(name, keywords) of every property named in FIELD_LIMITS, anywhere in ``node``."""
    fields = []
    if isinstance(node, dict):
        for name, schema in (node.get("properties") or {}).items():
            if name in FIELD_LIMITS and isinstance(schema, dict):
                fields.append((name, _keywords(schema)))
        for value in node.values():
            fields.extend(_limited_fields(value))
    elif isinstance(node, list):
        for value in node:
            fields.extend(_limited_fields(value))
    return fields


def _record_schemas() -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json")}


@pytest.mark.parametrize("source", ["openapi", "json-schemas"])
def test_field_limits_are_the_contracts(doc: dict[str, Any], source: str) -> None:
    fields = _limited_fields(doc["components"] if source == "openapi" else _record_schemas())
    for name, keywords in fields:
        for keyword, expected in FIELD_LIMITS[name].items():
            if keyword in keywords:
                assert keywords[keyword] == {expected}, (source, name, keyword)
    named = {name for name, _ in fields}
    assert named >= {"title", "description", "price_cents", "tags", "email", "display_name",
                     "text"}
    for name, limits in FIELD_LIMITS.items():  # every limit is somewhere, not left out
        if name in named:
            carried = {k for n, keywords in fields if n == name for k in keywords}
            assert carried & set(limits), (source, name)


def test_enums_are_the_contracts(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    records = _record_schemas()
    upload = records["picasso.pictures.UploadPicture.json"]["properties"]["data"]["properties"]
    assert upload["currency"]["enum"] == list(CURRENCIES)
    sold_in = Draft202012Validator(schemas["PictureUpload"]["properties"]["currency"])
    for currency in CURRENCIES:
        assert sold_in.is_valid(currency) and sold_in.is_valid(currency.upper()), currency
    assert not sold_in.is_valid("xyz")
    published = records["picasso.pictures.PicturePublished.json"]["properties"]["data"]
    assert published["properties"]["format"]["enum"] == list(IMAGE_FORMATS)
    assert schemas["Purchase"]["properties"]["status"]["enum"] == list(STATUSES)
    assert schemas["PurchaseAccepted"]["properties"]["status"]["enum"] == list(STATUSES)
    assert list(schemas["Preferences"]["properties"]) == list(NOTIFICATION_KINDS)
    changed = records["picasso.users.UserPreferencesChanged.json"]["properties"]["data"]
    assert list(changed["properties"]["preferences"]["properties"]) == list(NOTIFICATION_KINDS)


def test_the_editable_fields_are_the_contracts(doc: dict[str, Any]) -> None:
    assert list(doc["components"]["schemas"]["PictureChanges"]["properties"]) == list(EDITABLE)
    update = _record_schemas()["picasso.pictures.UpdatePicture.json"]["properties"]["data"]
    assert set(update["properties"]) - {"picture_id", "user_id"} == set(EDITABLE)


def test_no_resource_overwrites_anothers_paths_or_schemas(doc: dict[str, Any]) -> None:
    assert len(doc["paths"]) == sum(len(part.paths()) for part in RESOURCES)
    assert len(doc["components"]["schemas"]) == sum(
        len(part.schemas()) for part in (common, *RESOURCES))
