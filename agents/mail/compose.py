"""Writing Picasso's mails: plain-text and HTML parts from Jinja2 templates, and headers.

A mail is a pure function of the event that caused it (its id and time), the kind of mail,
the recipient and the facts it tells, so a mail sent again after a redelivery is the same
message, with the same ``Message-ID``, that a receiver can recognise as a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from picasso import unsubscribe
from topics.envelope import CloudEvent, derived_id

# Each kind has templates/<kind>.txt and templates/<kind>.html, and a subject here.
SUBJECTS: dict[str, str] = {
    "welcome": "Welcome to Picasso, {name}",
    "picture_published": "Your picture “{title}” is live",
    "picture_rejected": "Your picture “{title}” was rejected",
    "receipt": "Your receipt for “{title}”",
    "picture_sold": "You sold “{title}” for {amount}",
    "payment_failed": "Your payment for “{title}” did not go through",
    "refund_buyer": "You were refunded {amount} for “{title}”",
    "refund_seller": "Your sale of “{title}” was refunded",
    "sale_disputed": "A buyer disputed the payment for “{title}”",
    "followed": "{follower} now follows you",
    "commented": "{commenter} commented on “{title}”",
}
# Mail about the account or the pictures of a person, which they may turn off: they carry
# List-Unsubscribe. The welcome mail's link turns off all of them. Receipts, payment-failed,
# refund and dispute notices are about money the person spent or earned, and always go.
UNSUBSCRIBE_KIND: dict[str, str] = {
    "welcome": unsubscribe.ALL,
    "picture_published": "picture_published",
    "picture_rejected": "picture_rejected",
    "picture_sold": "picture_sold",
    "followed": "followed",
    "commented": "commented",
}
# ISO 4217 currencies without a minor unit, as Stripe counts them.
_ZERO_DECIMAL = frozenset({
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
})

_templates = Environment(
    loader=PackageLoader("agents.mail", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Letterhead:
    """The sending side of every mail: who it is from and where links point."""

    sender: str  # MAIL_FROM, e.g. "Picasso <no-reply@picasso.local>"
    base_url: str  # the edge as the recipient reaches it (PUBLIC_BASE_URL)
    signing_key: str  # signs the unsubscribe links

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def domain(self) -> str:
        return self.sender_address.rpartition("@")[2] or "picasso.local"


@dataclass(frozen=True)
class Notice:
    """One mail to write: its kind, its recipient and the facts it tells."""

    kind: str
    user_id: str
    address: str
    name: str
    facts: dict[str, Any]


def money(cents: int, currency: str) -> str:
    """``1500, "usd"`` as ``15.00 USD``; zero-decimal currencies have no minor unit."""
    code = currency.upper()
    if currency.lower() in _ZERO_DECIMAL:
        return f"{cents:,} {code}"
    return f"{cents // 100:,}.{cents % 100:02d} {code}"


def message_id(event_id: str, kind: str, letterhead: Letterhead) -> str:
    """The ``Message-ID`` of the ``kind`` mail caused by event ``event_id``: always the same."""
    return f"<{derived_id(event_id, f'mail/{kind}')}@{letterhead.domain}>"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def compose(notice: Notice, event: CloudEvent, letterhead: Letterhead) -> EmailMessage:
    """The whole message for ``notice``, caused by ``event``."""
    context = {**notice.facts, "name": notice.name, "base_url": letterhead.base_url}
    unsubscribe_kind = UNSUBSCRIBE_KIND.get(notice.kind)
    if unsubscribe_kind:
        context["unsubscribe_url"] = unsubscribe.link(
            letterhead.base_url, letterhead.signing_key, notice.user_id, unsubscribe_kind)
    message = EmailMessage()
    message["Subject"] = _one_line(SUBJECTS[notice.kind].format(**context))
    message["From"] = letterhead.sender
    message["To"] = Address(display_name=_one_line(notice.name), addr_spec=notice.address)
    message["Date"] = format_datetime(_when(event.time))
    message["Message-ID"] = message_id(event.id, notice.kind, letterhead)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message["X-Picasso-Kind"] = notice.kind
    message["X-Picasso-Event-Id"] = _one_line(event.id)
    if event.traceparent is not None:  # the trace of the request behind it (README, Traces)
        message["X-Picasso-Trace"] = _one_line(event.traceparent)
    if unsubscribe_kind:
        message["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    # Quoted-printable: 7-bit clean whatever the titles hold, for relays without 8BITMIME.
    # (Put on the wire with :data:`agents.mail.relay.WIRE_POLICY`.)
    message.set_content(_templates.get_template(f"{notice.kind}.txt").render(context),
                        cte="quoted-printable")
    message.add_alternative(_templates.get_template(f"{notice.kind}.html").render(context),
                            subtype="html", cte="quoted-printable")
    return message


def _when(time: str) -> datetime:
    try:
        moment = datetime.fromisoformat(time)
    except ValueError:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
