"""Writing mails (templates, headers), unsubscribe links and the preferences a PATCH sends."""

from __future__ import annotations

import email
from email import policy

import pytest

from agents.mail.compose import SUBJECTS, Letterhead, Notice, compose, message_id, money
from agents.mail.relay import wire_bytes
from picasso import unsubscribe
from topics.envelope import CloudEvent
from web.problems import Problem
from web.validation import preference_changes

LETTERHEAD = Letterhead("Picasso <no-reply@picasso.test>", "https://picasso.test", "secret")
EVENT = CloudEvent(type="picasso.test.Happened", subject="s", data={}, source="/t",
                   id="evt-1", time="2026-03-04T05:06:07.000Z")
FACTS = {
    "welcome": {},
    "picture_published": {"title": "Quay", "picture_url": "https://picasso.test/p/1"},
    "picture_rejected": {"title": "Quay", "reason": "the file is not an image"},
    "receipt": {"title": "Quay", "amount": "5.00 USD", "purchase_id": "b1",
                "download_url": "https://picasso.test/api/v1/pictures/p1/original"},
    "picture_sold": {"title": "Quay", "amount": "5.00 USD", "purchase_id": "b1"},
    "payment_failed": {"title": "Quay", "amount": None, "reason": "card declined",
                       "purchase_id": "b1"},
    "refund_buyer": {"title": "Quay", "amount": "5.00 USD", "purchase_id": "b1",
                     "reason": "refunded_by_seller"},
    "refund_seller": {"title": "Quay", "amount": "5.00 USD", "purchase_id": "b1",
                      "reason": "refunded_by_seller"},
    "sale_disputed": {"title": "Quay", "amount": "5.00 USD", "purchase_id": "b1",
                      "state": "closed", "outcome": "lost", "reason": "fraudulent"},
    "followed": {"follower": "Bo"},
    "commented": {"commenter": "Bo", "title": "Quay", "text": "Where <is> this?\nLovely",
                  "picture_url": "https://picasso.test/api/v1/pictures/p1"},
}


def sent(kind: str, **facts: object) -> email.message.EmailMessage:
    """The mail as a receiver parses it off the wire."""
    notice = Notice(kind, "u1", "ann@example.com", "Ann", {**FACTS[kind], **facts})
    return email.message_from_bytes(wire_bytes(compose(notice, EVENT, LETTERHEAD)),
                                    policy=policy.default)


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
def test_every_kind_has_both_parts_and_the_headers(kind: str) -> None:
    message = sent(kind)
    assert message["From"] == "Picasso <no-reply@picasso.test>"
    assert message["To"] == "Ann <ann@example.com>"
    assert message["Date"] == "Wed, 04 Mar 2026 05:06:07 +0000"
    assert message["Message-ID"] == message_id("evt-1", kind, LETTERHEAD)
    assert message["Message-ID"].endswith("@picasso.test>")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.startswith("Hello Ann,") and "<p>Hello Ann,</p>" in html
    unsubscribable = kind not in ("receipt", "payment_failed", "refund_buyer", "refund_seller",
                                  "sale_disputed")
    assert ("List-Unsubscribe" in message) is unsubscribable
    if unsubscribable:
        link = message["List-Unsubscribe"]
        assert link.startswith("<https://picasso.test/api/v1/unsubscribe?") and "\n" not in link
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert link[1:-1] in text


def test_the_same_event_and_kind_make_the_same_message_id() -> None:
    assert sent("receipt")["Message-ID"] == sent("receipt")["Message-ID"]
    assert sent("receipt")["Message-ID"] != sent("picture_sold")["Message-ID"]


def test_html_is_escaped_and_text_is_not() -> None:
    message = sent("picture_rejected", title="<script>x</script> & co",
                   reason="it is <b>broken</b>")
    html = message.get_body(("html",)).get_content()
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in html and "<script>" not in html
    assert "it is &lt;b&gt;broken&lt;/b&gt;" in html
    text = message.get_body(("plain",)).get_content()
    assert '"<script>x</script> & co" was not published, because it is <b>broken</b>' in text
    assert message["Subject"] == "Your picture “<script>x</script> & co” was rejected"


def test_a_title_cannot_add_headers() -> None:
    message = sent("picture_published", title="Quay\r\nBcc: eve@example.com")
    assert message["Bcc"] is None
    assert message["Subject"] == "Your picture “Quay Bcc: eve@example.com” is live"


def test_a_comment_is_quoted_as_written_and_escaped_in_html() -> None:
    message = sent("commented")
    assert message["Subject"] == "Bo commented on “Quay”"
    assert "Where <is> this?\r\nLovely" in message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Where &lt;is&gt; this?" in html and "<is>" not in html


def test_the_receipt_links_to_the_download_and_says_the_amount() -> None:
    text = sent("receipt").get_body(("plain",)).get_content()
    assert "https://picasso.test/api/v1/pictures/p1/original" in text
    assert "5.00 USD" in text


@pytest.mark.parametrize("cents, currency, shown", [
    (1500, "usd", "15.00 USD"), (50, "eur", "0.50 EUR"), (123456, "gbp", "1,234.56 GBP"),
    (500, "jpy", "500 JPY"),
])
def test_money(cents: int, currency: str, shown: str) -> None:
    assert money(cents, currency) == shown


def test_unsubscribe_links_are_signed_per_user_and_kind() -> None:
    good = unsubscribe.signature("secret", "u1", "picture_sold")
    assert unsubscribe.valid("secret", "u1", "picture_sold", good)
    assert not unsubscribe.valid("secret", "u2", "picture_sold", good)
    assert not unsubscribe.valid("secret", "u1", "picture_published", good)
    assert not unsubscribe.valid("other", "u1", "picture_sold", good)
    assert f"signature={good}" in unsubscribe.link("https://x", "secret", "u1", "picture_sold")


def test_preference_changes() -> None:
    assert preference_changes({"preferences": {"picture_published": False}}) == {
        "picture_published": False}


@pytest.mark.parametrize("body, field", [
    ({"preferences": {"receipt": False}}, "preferences.receipt"),
    ({"preferences": {"picture_sold": "no"}}, "preferences.picture_sold"),
    ({"preferences": {}}, "preferences"),
    ({"preferences": [1]}, "preferences"),
    ({}, "preferences"),
    ({"preferences": {"picture_sold": True}, "email": "x@y.z"}, "email"),
])
def test_bad_preference_changes_are_422(body: dict, field: str) -> None:
    with pytest.raises(Problem) as caught:
        preference_changes(body)
    assert caught.value.status_code == 422
    assert field in caught.value.body_dict["errors"]
