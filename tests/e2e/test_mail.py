"""Mail end to end: the whole system sends to the session's real SMTP server (aiosmtpd),
which keeps every message in the Maildir ``stack.maildir``; the tests read that mailbox."""

from __future__ import annotations

import asyncio
import email
import mailbox
import uuid
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from picasso.mongo import MAIL_DELIVERIES, MAIL_USERS
from picasso.settings import Settings
from tests.e2e.test_purchases import settled
from tests.helpers import Api, User, jpeg_with_gps, produce
from topics import PICTURES_EVENTS, USERS_EVENTS
from topics.envelope import CloudEvent
from topics.pictures import PICTURE_PUBLISHED
from topics.users import USER_REGISTERED, USER_UPDATED

WAIT_S = 20.0  # how long a mail may take to arrive before a test gives up on it


@pytest.fixture
def db(settings: Settings):
    return AsyncIOMotorClient(settings.mongodb_url)[settings.mongodb_database]


def mails_to(maildir: Path, address: str) -> list[EmailMessage]:
    """Every message the SMTP server accepted for ``address``, oldest first."""
    box = mailbox.Maildir(maildir, create=False)
    found = []
    for key in box.keys():
        message = email.message_from_bytes(box.get_bytes(key), policy=policy.default)
        if message["X-RcptTo"] == address:
            found.append(message)
    return sorted(found, key=lambda m: m["Date"].datetime)


async def wait_for_mails(maildir: Path, address: str, kinds: set[str],
                         wait_s: float = WAIT_S) -> dict[str, list]:
    """The mails to ``address`` by kind, once every kind in ``kinds`` has arrived."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        by_kind: dict[str, list[EmailMessage]] = {}
        for message in mails_to(maildir, address):
            by_kind.setdefault(message["X-Picasso-Kind"], []).append(message)
        if kinds <= set(by_kind) or asyncio.get_running_loop().time() > deadline:
            return by_kind
        await asyncio.sleep(0.2)


async def wait_until(check, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


def text(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


async def buy(api: Api, buyer: User, picture_id: str) -> dict:
    status, started, _ = await api.call("POST", f"/api/v1/pictures/{picture_id}/purchases",
                                        user=buyer, json={"payment_method": "pm_card_visa"})
    assert status == 202, started
    purchase = await settled(api, buyer, started["purchase_id"])
    assert purchase["status"] == "completed", purchase
    return purchase


async def test_register_upload_buy_sends_each_mail_once(api: Api, stack, system: str) -> None:
    ada = await api.register("Ada")
    bob = await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), title="Harbour at dawn",
                                  price_cents=1500)
    pid = picture["picture_id"]
    purchase = await buy(api, bob, pid)

    to_ada = await wait_for_mails(stack.maildir, ada.email,
                                  {"welcome", "picture_published", "picture_sold"})
    to_bob = await wait_for_mails(stack.maildir, bob.email, {"welcome", "receipt"})
    assert {k: len(v) for k, v in to_ada.items()} == {
        "welcome": 1, "picture_published": 1, "picture_sold": 1}
    assert {k: len(v) for k, v in to_bob.items()} == {"welcome": 1, "receipt": 1}

    [welcome] = to_ada["welcome"]
    assert welcome["Subject"] == "Welcome to Picasso, Ada"
    assert welcome["To"] == f"Ada <{ada.email}>"
    assert welcome["X-MailFrom"] == "no-reply@picasso.local"
    [live] = to_ada["picture_published"]
    assert live["Subject"] == "Your picture “Harbour at dawn” is live"
    assert f"{system}/api/v1/pictures/{pid}" in text(live)
    [sold] = to_ada["picture_sold"]
    assert sold["Subject"] == "You sold “Harbour at dawn” for 15.00 USD"
    assert purchase["purchase_id"] in text(sold)
    [receipt] = to_bob["receipt"]
    assert receipt["Subject"] == "Your receipt for “Harbour at dawn”"
    assert "List-Unsubscribe" not in receipt
    download = f"{system}/api/v1/pictures/{pid}/original"
    assert download in text(receipt) and "15.00 USD" in text(receipt)
    assert f'href="{download}"' in receipt.get_body(("html",)).get_content()
    status, _, _ = await api.call("GET", download.removeprefix(system), user=bob)
    assert status == 302  # the receipt's link downloads the original

    # The welcome mail's one-click unsubscribe link turns every optional kind off.
    link = welcome["List-Unsubscribe"].strip("<>")
    async with api.http.post(link, data={"List-Unsubscribe": "One-Click"}) as answer:
        assert answer.status == 202, await answer.text()

    async def all_off() -> bool:
        _, me, _ = await api.call("GET", "/api/v1/me", user=ada)
        return not any(me["preferences"].values())
    await wait_until(all_off, "the unsubscribe link turned Ada's mail off")
    async with api.http.post(link.replace("kind=all", "kind=picture_sold")) as answer:
        assert answer.status == 403  # the signature covers the kind


async def test_a_kind_turned_off_is_not_sent_and_receipts_still_are(
        api: Api, stack, db) -> None:
    carl = await api.register("Carl")
    dora = await api.register("Dora")
    status, me, _ = await api.call("GET", "/api/v1/me", user=carl)
    assert me["preferences"] == {"picture_published": True, "picture_rejected": True,
                                 "picture_sold": True, "followed": False, "commented": False}
    for bad in ({"preferences": {"picture_published": False, "receipt": False}},
                {"preferences": {"picture_published": "off"}}):
        status, problem, answer = await api.call("PATCH", "/api/v1/me", user=carl, json=bad)
        assert status == 422 and answer.content_type == "application/problem+json", problem
    status, body, answer = await api.call(
        "PATCH", "/api/v1/me", user=carl, json={"preferences": {"picture_published": False}})
    assert status == 202, body
    assert answer.headers["Location"] == "/api/v1/me"
    assert body["preferences"]["picture_published"] is False

    async def applied() -> bool:
        user = await db[MAIL_USERS].find_one({"_id": carl.user_id}) or {}
        _, me, _ = await api.call("GET", "/api/v1/me", user=carl)
        return (user.get("preferences", {}).get("picture_published") is False
                and me["preferences"] == {"picture_published": False,
                                          "picture_rejected": True, "picture_sold": True,
                                          "followed": False, "commented": False})
    await wait_until(applied, "Carl's preference reached the mail agent and GET /me")

    picture = await api.published(carl, jpeg_with_gps(64, 48), title="Quiet street",
                                  price_cents=700)
    await buy(api, dora, picture["picture_id"])
    to_dora = await wait_for_mails(stack.maildir, dora.email, {"welcome", "receipt"})
    assert "Quiet street" in to_dora["receipt"][0]["Subject"]
    to_carl = await wait_for_mails(stack.maildir, carl.email, {"welcome", "picture_sold"})

    async def skipped() -> bool:
        found = await db[MAIL_DELIVERIES].find_one(
            {"kind": "picture_published", "user_id": carl.user_id})
        return found is not None and found["status"] == "skipped"
    await wait_until(skipped, "the picture-live mail to Carl was skipped")
    assert set(to_carl) == {"welcome", "picture_sold"}
    assert "picture_published" not in {m["X-Picasso-Kind"]
                                       for m in mails_to(stack.maildir, carl.email)}


async def test_the_same_event_produced_twice_sends_one_mail(stack, settings: Settings,
                                                            db, system: str) -> None:
    user_id = f"ext-{uuid.uuid4().hex[:12]}"
    address = f"{user_id}@example.com"
    topic = USERS_EVENTS.name(settings.topic_prefix)
    registered = CloudEvent(type=USER_REGISTERED.type, subject=user_id, source="/elsewhere",
                            data={"user_id": user_id, "email": address, "display_name": "Eve"})
    for _ in range(2):  # the same CloudEvent (same id) delivered twice
        await produce(settings.kafka_bootstrap, topic, registered.to_json(), user_id.encode())
    # A later event with the same key is consumed after both copies.
    later = CloudEvent(type=USER_UPDATED.type, subject=user_id, source="/elsewhere",
                       data={"user_id": user_id, "display_name": "Eve Later"})
    await produce(settings.kafka_bootstrap, topic, later.to_json(), user_id.encode())

    async def consumed() -> bool:
        user = await db[MAIL_USERS].find_one({"_id": user_id}) or {}
        return user.get("display_name") == "Eve Later"
    await wait_until(consumed, "the mail agent consumed both copies and the update")
    mails = mails_to(stack.maildir, address)
    assert [m["Subject"] for m in mails] == ["Welcome to Picasso, Eve"]
    record = await db[MAIL_DELIVERIES].find_one({"_id": f"{registered.id}/welcome"})
    assert record["status"] == "sent" and record["attempts"] == 1


async def test_mail_waits_while_the_relay_is_down_and_goes_once_it_is_back(
        api: Api, stack, db) -> None:
    stack.stop_service("smtp")
    try:
        fay = await api.register("Fay")

        async def parked() -> bool:
            found = await db[MAIL_DELIVERIES].find_one({"kind": "welcome",
                                                        "user_id": fay.user_id})
            return found is not None and found["status"] == "waiting"
        await wait_until(parked, "Fay's welcome mail waits for the relay")
    finally:
        stack.start_service("smtp")
    # The worker's sweeper sends it on the default schedule (1, 5, 30 s after the tries).
    mails = await wait_for_mails(stack.maildir, fay.email, {"welcome"}, wait_s=60.0)
    assert len(mails["welcome"]) == 1
    record = await db[MAIL_DELIVERIES].find_one({"kind": "welcome", "user_id": fay.user_id})
    assert record["status"] == "sent" and record["attempts"] >= 2
    assert mails["welcome"][0]["Message-ID"] == record["message_id"]


async def test_mail_for_a_user_registered_later_goes_when_they_are(
        stack, settings: Settings, db, system: str) -> None:
    user_id = f"ext-{uuid.uuid4().hex[:12]}"
    address = f"{user_id}@example.com"
    picture_id = uuid.uuid4().hex
    live = CloudEvent(type=PICTURE_PUBLISHED.type, subject=picture_id, source="/elsewhere",
                      data={"picture_id": picture_id, "owner_id": user_id, "currency": "usd",
                            "title": "Before anyone knew", "description": "",
                            "price_cents": 500, "tags": [], "width": 10, "height": 10,
                            "format": "jpeg", "original_key": "o", "thumbnail_key": "t",
                            "preview_key": "p", "created_at": "2026-01-01T00:00:00Z"})
    await produce(settings.kafka_bootstrap, PICTURES_EVENTS.name(settings.topic_prefix),
                  live.to_json(), picture_id.encode())

    async def waiting() -> bool:
        found = await db[MAIL_DELIVERIES].find_one({"_id": f"{live.id}/picture_published"})
        return found is not None and found["status"] == "waiting_for_user"
    await wait_until(waiting, "the mail waits for its recipient")
    registered = CloudEvent(type=USER_REGISTERED.type, subject=user_id, source="/elsewhere",
                            data={"user_id": user_id, "email": address, "display_name": "Gil"})
    await produce(settings.kafka_bootstrap, USERS_EVENTS.name(settings.topic_prefix),
                  registered.to_json(), user_id.encode())
    mails = await wait_for_mails(stack.maildir, address, {"welcome", "picture_published"})
    assert {k: len(v) for k, v in mails.items()} == {"welcome": 1, "picture_published": 1}
    assert mails["picture_published"][0]["Subject"] == "Your picture “Before anyone knew” is live"
