"""The mail domain: who hears about what, exactly once per event and recipient if it can.

The mail agent keeps its own projections (recipients' addresses, names and preferences from
``picasso.users.events``; picture titles from ``picasso.pictures.events``) and reads no
other domain's store. Each mail it sends has a delivery document keyed by the event id and
the kind of mail (one kind has one recipient): ``sending`` is written before the SMTP
transaction and ``sent`` after the relay's 250, so a redelivered event finds ``sent`` and
sends nothing. What remains is the short window between the 250 and that write: a crash
there leaves ``sending``, and the redelivery sends the same message again, with the same
Message-ID, which a receiver may use to drop the duplicate (see README, "Mail").
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog
from motor.motor_asyncio import AsyncIOMotorDatabase

from agents.mail.compose import Letterhead, Notice, compose, money
from agents.mail.relay import Relay, RelayUnavailable, SmtpRefused
from agents.runtime import Rejected
from picasso.mongo import MAIL_DELIVERIES, MAIL_PICTURES, MAIL_USERS
from picasso.settings import Settings
from topics.envelope import CloudEvent, utc_now
from topics.pictures import PICTURE_PUBLISHED, PICTURE_REJECTED, PICTURE_UPDATED
from topics.purchases import (
    PURCHASE_COMPLETED,
    PURCHASE_DISPUTED,
    PURCHASE_FAILED,
    PURCHASE_REFUNDED,
)
from topics.record import Record
from topics.users import (
    NOTIFICATION_KINDS,
    USER_PREFERENCES_CHANGED,
    USER_REGISTERED,
    USER_UPDATED,
)

log = structlog.get_logger()

FINAL = ("sent", "failed", "skipped")
# Waits between attempts when the relay answers 4xx for a message (greylisting, a full
# mailbox). Then the mail is recorded as failed, so that one recipient cannot hold up
# everyone else's mail for long. A relay that cannot be reached is another matter: that
# is retried until it is back, by the agent runtime (RelayUnavailable is an OSError).
TEMPORARY_RETRY_DELAYS_S = (1.0, 5.0, 30.0, 120.0)


@dataclass
class Mailer:
    """Turns events into mails and hands them to the relay; callable without a broker."""

    db: AsyncIOMotorDatabase
    relay: Relay
    letterhead: Letterhead
    user_wait_s: float = 30.0
    retry_delays_s: tuple[float, ...] = TEMPORARY_RETRY_DELAYS_S
    _handlers: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._handlers = {
            USER_REGISTERED.type: self.user_registered,
            USER_UPDATED.type: self.user_updated,
            USER_PREFERENCES_CHANGED.type: self.preferences_changed,
            PICTURE_PUBLISHED.type: self.picture_published,
            PICTURE_UPDATED.type: self.picture_updated,
            PICTURE_REJECTED.type: self.picture_rejected,
            PURCHASE_COMPLETED.type: self.purchase_completed,
            PURCHASE_FAILED.type: self.purchase_failed,
            PURCHASE_REFUNDED.type: self.purchase_refunded,
            PURCHASE_DISPUTED.type: self.purchase_disputed,
        }

    @classmethod
    def from_settings(cls, db: AsyncIOMotorDatabase, settings: Settings) -> Mailer:
        letterhead = Letterhead(settings.mail_from, settings.public_base_url,
                                settings.signing_key)
        return cls(db, Relay.from_settings(settings), letterhead, settings.mail_user_wait_s)

    async def handle(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """Apply one event; events the mail agent has nothing to say about are ignored."""
        handler = self._handlers.get(record.type)
        if handler is not None:
            await handler(event)
        return []

    # -- projections ----------------------------------------------------------------------

    async def user_registered(self, event: CloudEvent) -> None:
        d = event.data
        await self._remember_user(d["user_id"], {"email": d["email"],
                                                 "display_name": d["display_name"]})
        await self.notify(event, "welcome", d["user_id"], {})

    async def user_updated(self, event: CloudEvent) -> None:
        changes = {k: event.data[k] for k in ("email", "display_name") if k in event.data}
        if changes:
            await self._remember_user(event.data["user_id"], changes)

    async def preferences_changed(self, event: CloudEvent) -> None:
        d = event.data
        await self._remember_user(
            d["user_id"], {f"preferences.{kind}": on for kind, on in d["preferences"].items()})

    async def _remember_user(self, user_id: str, changes: dict) -> None:
        await self.db[MAIL_USERS].update_one({"_id": user_id}, {"$set": changes}, upsert=True)

    async def _remember_picture(self, picture_id: str, changes: dict) -> None:
        await self.db[MAIL_PICTURES].update_one({"_id": picture_id}, {"$set": changes},
                                                upsert=True)

    async def _title(self, picture_id: str) -> str:
        picture = await self.db[MAIL_PICTURES].find_one({"_id": picture_id}, {"title": 1})
        return picture["title"] if picture and picture.get("title") else "your picture"

    # -- what happened, and who hears about it --------------------------------------------

    async def picture_published(self, event: CloudEvent) -> None:
        d = event.data
        await self._remember_picture(d["picture_id"], {"title": d["title"],
                                                       "owner_id": d["owner_id"]})
        url = f"{self.letterhead.base_url}/api/v1/pictures/{d['picture_id']}"
        await self.notify(event, "picture_published", d["owner_id"],
                          {"title": d["title"], "picture_url": url})

    async def picture_updated(self, event: CloudEvent) -> None:
        if "title" in event.data:
            await self._remember_picture(event.data["picture_id"],
                                         {"title": event.data["title"]})

    async def picture_rejected(self, event: CloudEvent) -> None:
        d = event.data
        if not d.get("owner_id"):
            raise Rejected(f"picture {d['picture_id']} was rejected, but the event names no "
                           "owner to tell")
        title = d.get("title") or await self._title(d["picture_id"])
        await self.notify(event, "picture_rejected", d["owner_id"],
                          {"title": title, "reason": d["reason"].rstrip(".")})

    async def purchase_completed(self, event: CloudEvent) -> None:
        d = event.data
        facts = {
            "title": d.get("title") or await self._title(d["picture_id"]),
            "amount": money(d["amount_cents"], d["currency"]),
            "purchase_id": d["purchase_id"],
        }
        download = f"{self.letterhead.base_url}/api/v1/pictures/{d['picture_id']}/original"
        await self.notify(event, "receipt", d["buyer_id"], {**facts, "download_url": download})
        await self.notify(event, "picture_sold", d["seller_id"], facts)

    async def purchase_failed(self, event: CloudEvent) -> None:
        d = event.data
        amount = (money(d["amount_cents"], d["currency"])
                  if "amount_cents" in d and "currency" in d else None)
        await self.notify(event, "payment_failed", d["buyer_id"], {
            "title": await self._title(d["picture_id"]), "amount": amount,
            "reason": d["reason"], "purchase_id": d["purchase_id"],
        })

    async def purchase_refunded(self, event: CloudEvent) -> None:
        d = event.data
        facts = {
            "title": d.get("title") or await self._title(d["picture_id"]),
            "amount": money(d["amount_cents"], d["currency"]),
            "purchase_id": d["purchase_id"], "reason": d["reason"],
        }
        await self.notify(event, "refund_buyer", d["buyer_id"], facts)
        await self.notify(event, "refund_seller", d["seller_id"], facts)

    async def purchase_disputed(self, event: CloudEvent) -> None:
        d = event.data
        await self.notify(event, "sale_disputed", d["seller_id"], {
            "title": d.get("title") or await self._title(d["picture_id"]),
            "amount": money(d["amount_cents"], d["currency"]),
            "purchase_id": d["purchase_id"], "state": d["state"],
            "outcome": d.get("outcome") or "", "reason": d.get("reason") or "",
        })

    # -- delivery -------------------------------------------------------------------------

    async def notify(self, event: CloudEvent, kind: str, user_id: str, facts: dict) -> None:
        """Send the ``kind`` mail about ``event`` to ``user_id``, unless it went already."""
        key = f"{event.id}/{kind}"
        deliveries = self.db[MAIL_DELIVERIES]
        bound = log.bind(event_id=event.id, kind=kind, user_id=user_id)
        before = await deliveries.find_one({"_id": key})
        if before is not None and before["status"] in FINAL:
            bound.info("mail_already_handled", status=before["status"])
            return
        user = await self._recipient(user_id)
        if kind in NOTIFICATION_KINDS and user.get("preferences", {}).get(kind) is False:
            await self._record(key, "skipped", event_id=event.id, kind=kind, user_id=user_id,
                               reason="turned off by the recipient")
            bound.info("mail_skipped_by_preference")
            return
        notice = Notice(kind, user_id, user["email"], user.get("display_name") or "", facts)
        message = compose(notice, event, self.letterhead)
        if before is not None and before["status"] == "sending":
            # An earlier try may have been accepted just before a crash: send the same
            # message (same Message-ID) again rather than risk that it never went.
            bound.warning("mail_outcome_unknown_sending_again")
        await deliveries.update_one({"_id": key}, {"$set": {
            "status": "sending", "event_id": event.id, "kind": kind, "user_id": user_id,
            "to": notice.address, "message_id": message["Message-ID"], "updated_at": utc_now(),
        }}, upsert=True)
        try:
            reply = await self._submit(key, message, notice.address)
        except SmtpRefused as exc:
            await self._record(key, "failed", reason=str(exc))
            bound.warning("mail_failed", reason=str(exc), temporary=exc.temporary)
            return
        except RelayUnavailable:
            await self._record(key, "waiting")  # known not to be accepted
            raise
        await self._record(key, "sent", reply=reply)
        bound.info("mail_sent", message_id=message["Message-ID"])

    async def _submit(self, key: str, message, address: str) -> str:
        """Hand the message to the relay, trying again after 4xx replies a few times."""
        attempts = 0
        while True:
            attempts += 1
            await self.db[MAIL_DELIVERIES].update_one({"_id": key}, {"$inc": {"attempts": 1}})
            try:
                return await self.relay.submit(message, self.letterhead.sender_address,
                                               address)
            except SmtpRefused as exc:
                if not exc.temporary:
                    raise
                if attempts > len(self.retry_delays_s):
                    raise SmtpRefused(exc.code, f"{exc.text} (still refused after "
                                                f"{attempts} attempts)") from None
                delay = self.retry_delays_s[attempts - 1]
                log.info("mail_deferred_retrying", key=key, reply=str(exc), delay_s=delay)
                await asyncio.sleep(delay)

    async def _record(self, key: str, status: str, **details: str) -> None:
        await self.db[MAIL_DELIVERIES].update_one(
            {"_id": key}, {"$set": {"status": status, "updated_at": utc_now(), **details}},
            upsert=True)

    async def _recipient(self, user_id: str) -> dict:
        """The user's address, name and preferences from the mail agent's projection.

        The event about a user can overtake their UserRegistered (another topic, another
        partition), so an unknown user is looked up again for ``user_wait_s`` before the
        event is refused (and dead-lettered, from where an operator can replay it).
        """
        deadline = time.monotonic() + self.user_wait_s
        delay = 0.05
        while True:
            user = await self.db[MAIL_USERS].find_one({"_id": user_id})
            if user is not None and user.get("email"):
                return user
            left = deadline - time.monotonic()
            if left <= 0:
                raise Rejected(f"no address for user {user_id}: their UserRegistered did not "
                               f"arrive within {self.user_wait_s:g} s")
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 2.0)
