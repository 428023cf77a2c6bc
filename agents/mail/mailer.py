"""The mail domain: who hears about what, exactly once per event and recipient if it can.

The mail agent keeps its own projections (recipients' addresses, names and preferences from
``picasso.users.events``; picture titles from ``picasso.pictures.events``) and reads no
other domain's store. Each mail has a delivery document keyed by the event id and the kind
of mail (one kind has one recipient), which holds everything needed to write the mail again
(the event and the facts it tells) and where the mail stands:

``waiting``
    due at ``due_at``: new, or to be tried again after a 4xx reply or an unreachable relay.
``waiting_for_user``
    the recipient's UserRegistered has not arrived; sent when it does, or given up to the
    dead letters at ``due_at``.
``sending``
    held by one worker until ``due_at`` (a lease), written before the SMTP transaction;
    a worker that finds the lease run out takes the delivery over.
``sent``, ``failed``, ``skipped``
    final: a redelivered event finds them and sends nothing.
``dead_lettered``
    the event is on ``picasso.deadletter``; replaying it tries again.

Nothing waits inside the stream: the handler tries a mail once and parks it if it cannot go
now; :meth:`Mailer.sweep`, run on a timer by every worker, sends what is due. Deliveries
are claimed with one atomic update each, so several sweepers never send the same one at
once. What remains is the short window between the relay's 250 and writing ``sent``: a
crash there leaves ``sending``, and whoever takes it over sends the same message again,
with the same Message-ID, which a receiver may use to drop the duplicate (README, "Mail").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING, ReturnDocument

from agents.mail.compose import Letterhead, Notice, compose, money
from agents.mail.relay import Relay, RelayUnavailable, SmtpRefused
from picasso.failures import describe, is_transient
from picasso.metrics import MAIL_FAILED, MAIL_SENT
from picasso.mongo import MAIL_DELIVERIES, MAIL_PICTURES, MAIL_USERS
from picasso.runtime import Rejected, Send
from picasso.settings import Settings
from picasso.tracing import log_fields
from topics import DEADLETTER
from topics.comments import COMMENT_ADDED
from topics.deadletter import MESSAGE_REJECTED
from topics.envelope import CloudEvent, derived_id, utc_now
from topics.pictures import PICTURE_PUBLISHED, PICTURE_REJECTED, PICTURE_UPDATED
from topics.purchases import (
    PURCHASE_COMPLETED,
    PURCHASE_DISPUTED,
    PURCHASE_FAILED,
    PURCHASE_REFUNDED,
)
from topics.record import Record
from topics.registry import RECORDS
from topics.social import USER_FOLLOWED
from topics.users import (
    NOTIFICATION_KINDS,
    USER_PREFERENCES_CHANGED,
    USER_REGISTERED,
    USER_UPDATED,
    mail_wanted,
)

log = structlog.get_logger()

WAITING = "waiting"
WAITING_FOR_USER = "waiting_for_user"
SENDING = "sending"
DEAD_LETTERED = "dead_lettered"
FINAL = ("sent", "failed", "skipped")
SOURCE = "/picasso/agents/mail"


@dataclass(frozen=True)
class Schedule:
    """When mail that could not go is tried again, and when it is given up (settings)."""

    retry_delays_s: tuple[float, ...] = Settings.mail_retry_delays_s
    retry_for_s: float = Settings.mail_retry_for_s
    user_wait_s: float = Settings.mail_user_wait_s
    lease_s: float = Settings.mail_send_lease_s

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        return cls(settings.mail_retry_delays_s, settings.mail_retry_for_s,
                   settings.mail_user_wait_s, settings.mail_send_lease_s)

    def retry_delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th attempt failed; the last delay repeats."""
        index = min(max(attempts, 1), len(self.retry_delays_s)) - 1
        return timedelta(seconds=self.retry_delays_s[index])


@dataclass
class Mailer:
    """Turns events into mails and hands them to the relay; callable without a broker.

    ``send`` produces to Kafka (for the dead letters of mail whose recipient never came).
    """

    db: AsyncIOMotorDatabase
    relay: Relay
    letterhead: Letterhead
    send: Send
    topic_prefix: str = ""
    schedule: Schedule = Schedule()
    _handlers: dict = field(init=False, repr=False)
    # Set when the relay could not be reached, cleared when it answers. While set, the
    # stream parks new mail without trying, so that a relay that times out costs the stream
    # one timeout rather than one per mail; the sweeper's tries find out when it is back.
    _relay_down: bool = field(default=False, init=False, repr=False)

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
            USER_FOLLOWED.type: self.user_followed,
            COMMENT_ADDED.type: self.comment_added,
        }

    @classmethod
    def from_settings(cls, db: AsyncIOMotorDatabase, settings: Settings, send: Send) -> Mailer:
        """The mailer a worker runs, configured by ``settings``."""
        letterhead = Letterhead(settings.mail_from, settings.public_base_url,
                                settings.signing_key)
        return cls(db, Relay.from_settings(settings), letterhead, send, settings.topic_prefix,
                   Schedule.from_settings(settings))

    async def ensure_indexes(self) -> None:
        """The indexes the sweeper and the release of a user's waiting mail look things up by."""
        deliveries = self.db[MAIL_DELIVERIES]
        await deliveries.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
        await deliveries.create_index([("user_id", ASCENDING), ("status", ASCENDING)])

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
        await self._release(d["user_id"])

    async def user_updated(self, event: CloudEvent) -> None:
        changes = {k: event.data[k] for k in ("email", "display_name") if k in event.data}
        if changes:
            await self._remember_user(event.data["user_id"], changes)
        if "email" in changes:  # the first address we hear of, if UserRegistered was lost
            await self._release(event.data["user_id"])

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

    async def user_followed(self, event: CloudEvent) -> None:
        d = event.data
        if d["follower_id"] != d["followee_id"]:
            await self.notify(event, "followed", d["followee_id"],
                              {"follower": await self._name(d["follower_id"])})

    async def comment_added(self, event: CloudEvent) -> None:
        d = event.data
        if d.get("owner_id") and d["owner_id"] != d["user_id"]:
            url = f"{self.letterhead.base_url}/api/v1/pictures/{d['picture_id']}"
            await self.notify(event, "commented", d["owner_id"], {
                "commenter": await self._name(d["user_id"]),
                "title": await self._title(d["picture_id"]), "text": d["text"],
                "picture_url": url})

    async def _name(self, user_id: str) -> str:
        user = await self.db[MAIL_USERS].find_one({"_id": user_id}, {"display_name": 1})
        return user["display_name"] if user and user.get("display_name") else "Someone"

    # -- delivery -------------------------------------------------------------------------

    async def notify(self, event: CloudEvent, kind: str, user_id: str, facts: dict) -> None:
        """Send the ``kind`` mail about ``event`` to ``user_id`` now, or park it for later.

        Returns at once whatever the relay or the projection say: mail that cannot go now
        waits in its delivery document, and the stream goes on.
        """
        key = f"{event.id}/{kind}"
        deliveries = self.db[MAIL_DELIVERIES]
        bound = log.bind(event_id=event.id, kind=kind, user_id=user_id)
        before = await deliveries.find_one({"_id": key}, {"status": 1})
        if before is not None and before["status"] in FINAL:
            bound.info("mail_already_handled", delivery=before["status"])
            return
        now = _now()
        # The event and the facts are written on every delivery of the event, so that a
        # record left by an interrupted try can always be written again.
        await deliveries.update_one({"_id": key}, {
            "$set": {"event_id": event.id, "kind": kind, "user_id": user_id,
                     "event": event.to_dict(), "facts": facts},
            "$setOnInsert": {"status": WAITING, "due_at": now, "created_at": now},
        }, upsert=True)
        claimed = await self._claim({
            "_id": key, "status": {"$in": [WAITING, SENDING, DEAD_LETTERED]},
            # No due time: dead-lettered (a replay), or recorded by an older worker.
            "$or": [{"due_at": {"$lte": now}}, {"due_at": None}],
        })
        if claimed is None:
            bound.info("mail_waits_elsewhere")  # parked for later, or another worker has it
            return
        await self._deliver(claimed, probe=False)

    async def sweep(self) -> int:
        """One pass over the deliveries that are due; returns how many it handled.

        Safe to run on many workers at once: each delivery is claimed by one atomic update.
        A pass stops at the first relay that cannot be reached (the rest keep their due
        time), and takes only what was due when it began, so it always ends.
        """
        cutoff = _now()
        handled = 0
        while True:
            claimed = await self._claim(
                {"status": {"$in": [WAITING, SENDING, WAITING_FOR_USER]},
                 "due_at": {"$lte": cutoff}},
                sort=[("due_at", ASCENDING)])
            if claimed is None:
                return handled
            handled += 1
            try:
                reached = await self._deliver(claimed, probe=True)
            except Exception as exc:
                if is_transient(exc):
                    raise  # a store is down: the lease brings the delivery back later
                # A defect in writing this mail: not retried forever, kept for a look.
                log.exception("mail_failed_internal_error", key=claimed["_id"])
                MAIL_FAILED.labels(claimed["kind"]).inc()
                await self._record(claimed["_id"], "failed",
                                   reason=f"internal error: {describe(exc)}")
                continue
            if not reached:
                return handled

    async def _claim(self, match: dict, sort: list | None = None) -> dict | None:
        """Take one delivery matching ``match`` for sending: ``sending``, leased to us.

        Returns the document as it was before (its previous status and due time), or None
        when there is none to take. The one atomic update is what keeps two workers from
        sending the same delivery at once.
        """
        now = _now()
        return await self.db[MAIL_DELIVERIES].find_one_and_update(
            match,
            {"$set": {"status": SENDING, "due_at": now + timedelta(seconds=self.schedule.lease_s),
                      "updated_at": utc_now()}},
            sort=sort, return_document=ReturnDocument.BEFORE)

    async def _release(self, user_id: str) -> None:
        """Send the mail that waited for ``user_id``, now that their address is known."""
        deliveries = self.db[MAIL_DELIVERIES]
        waiting = deliveries.find({"user_id": user_id, "status": WAITING_FOR_USER}, {"_id": 1})
        for key in [doc["_id"] async for doc in waiting]:
            claimed = await self._claim({"_id": key, "status": WAITING_FOR_USER})
            if claimed is not None:
                log.info("mail_user_arrived", key=key, user_id=user_id)
                await self._deliver(claimed, probe=False)

    async def _deliver(self, claimed: dict, probe: bool) -> bool:
        """Send a claimed delivery, or park it again; False if the relay was unreachable.

        ``probe``: try the relay even if it was unreachable lately (the sweeper does).
        """
        key, kind, user_id = claimed["_id"], claimed["kind"], claimed["user_id"]
        event = CloudEvent.from_dict(claimed["event"])
        # The trace of the request behind the mail, also when a sweeper sends it later.
        bound = log.bind(event_id=event.id, kind=kind, user_id=user_id, subject=event.subject,
                         **log_fields(event))
        user = await self._recipient(user_id)
        if user is None:
            await self._user_unknown(claimed, event)
            return True
        # Preferences as they are now, when the mail goes, not when it was first due.
        if kind in NOTIFICATION_KINDS and not mail_wanted(kind, user.get("preferences")):
            await self._record(key, "skipped", reason="turned off by the recipient")
            bound.info("mail_skipped_by_preference")
            return True
        notice = Notice(kind, user_id, user["email"], user.get("display_name") or "",
                        claimed["facts"])
        message = compose(notice, event, self.letterhead)
        if self._relay_down and not probe:
            await self._park(key, _now(), "not tried: the relay was unreachable moments ago")
            bound.info("mail_parked_relay_down")
            return False
        if claimed["status"] == SENDING:
            # An earlier try may have been accepted just before a crash: send the same
            # message (same Message-ID) again rather than risk that it never went.
            bound.warning("mail_outcome_unknown_sending_again")
        now = _now()
        first_attempt = _aware(claimed.get("first_attempt_at")) or now
        await self.db[MAIL_DELIVERIES].update_one({"_id": key}, {
            "$set": {"to": notice.address, "message_id": message["Message-ID"],
                     "first_attempt_at": first_attempt, "updated_at": utc_now()},
            "$inc": {"attempts": 1}})
        attempts = claimed.get("attempts", 0) + 1
        try:
            # Well within the lease, so that nobody takes the delivery over while it is sent.
            async with asyncio.timeout(self.schedule.lease_s / 2):
                reply = await self.relay.submit(message, self.letterhead.sender_address,
                                                notice.address)
        except (SmtpRefused, RelayUnavailable, TimeoutError) as exc:
            reached = isinstance(exc, SmtpRefused)  # it answered, if only to say no
            self._relay_down = not reached
            reason = str(exc) if reached else describe(exc)
            if is_transient(exc):
                await self._retry_later(key, kind, attempts, first_attempt, reason, bound)
            else:
                await self._record(key, "failed", reason=reason)
                MAIL_FAILED.labels(kind).inc()
                bound.warning("mail_failed", reason=reason)
            return reached
        self._relay_down = False
        await self._record(key, "sent", reply=reply, reason=None)
        MAIL_SENT.labels(kind).inc()
        bound.info("mail_sent", message_id=message["Message-ID"], attempts=attempts)
        return True

    async def _retry_later(self, key: str, kind: str, attempts: int, first_attempt: datetime,
                           reason: str, bound) -> None:
        """Park the delivery for its next try, or fail it once that would be too late."""
        due = _now() + self.schedule.retry_delay(attempts)
        if due - first_attempt > timedelta(seconds=self.schedule.retry_for_s):
            reason = (f"{reason} (still not accepted after {attempts} attempts over "
                      f"{(_now() - first_attempt).total_seconds():.0f} s)")
            await self._record(key, "failed", reason=reason)
            MAIL_FAILED.labels(kind).inc()
            bound.warning("mail_failed", reason=reason)
            return
        await self._park(key, due, reason)
        bound.info("mail_deferred", reason=reason, due_at=due.isoformat())

    async def _user_unknown(self, claimed: dict, event: CloudEvent) -> None:
        """No address for the recipient: wait for their UserRegistered, or give up."""
        key, user_id = claimed["_id"], claimed["user_id"]
        now = _now()
        # Kept across interruptions, so that a crash does not start the wait over.
        until = (_aware(claimed.get("user_wait_until"))
                 or now + timedelta(seconds=self.schedule.user_wait_s))
        if until <= now:
            await self._dead_letter(claimed, event)
            return
        await self._record(key, WAITING_FOR_USER, due_at=until, user_wait_until=until,
                           reason=f"no address for user {user_id} yet")
        log.info("mail_waits_for_user", key=key, user_id=user_id, until=until.isoformat())
        # Their UserRegistered may have been applied between our look-up and the write
        # above, and then its release did not see this mail: look again.
        if await self._recipient(user_id) is not None:
            await self._release(user_id)

    async def _dead_letter(self, claimed: dict, event: CloudEvent) -> None:
        """Give up a mail whose recipient never became known: the event to the dead letters.

        The letter carries the event as its payload (replaying it tries the mail again);
        partition and offset are -1, since it was given up long after it was consumed.
        """
        key, user_id = claimed["_id"], claimed["user_id"]
        reason = (f"no address for user {user_id}: their UserRegistered did not arrive within "
                  f"{self.schedule.user_wait_s:g} s")
        letter = CloudEvent(type=MESSAGE_REJECTED.type, subject=event.subject, source=SOURCE,
                            id=derived_id(key, MESSAGE_REJECTED.type), data={
            "reason": reason, "agent": "mail",
            "topic": RECORDS[event.type].topic.name(self.topic_prefix),
            "partition": -1, "offset": -1, "key": event.subject,
            "payload": event.to_json().decode(), "original_id": event.id})
        await self.send(DEADLETTER.name(self.topic_prefix), event.subject.encode(),
                        letter.to_json())
        # A replay of the letter waits for the user afresh.
        await self._record(key, DEAD_LETTERED, due_at=None, user_wait_until=None,
                           reason=reason)
        log.warning("mail_dead_lettered", key=key, reason=reason)

    async def _park(self, key: str, due: datetime, reason: str) -> None:
        await self._record(key, WAITING, due_at=due, reason=reason)

    async def _record(self, key: str, status: str, **details: object) -> None:
        """Write ``status``; final ones drop the due time, so no sweeper looks at them."""
        if status in FINAL:
            details = {"due_at": None, **details}
        await self.db[MAIL_DELIVERIES].update_one(
            {"_id": key}, {"$set": {"status": status, "updated_at": utc_now(), **details}},
            upsert=True)

    async def _recipient(self, user_id: str) -> dict | None:
        """The user's address, name and preferences from the projection; None if unknown."""
        user = await self.db[MAIL_USERS].find_one({"_id": user_id})
        return user if user is not None and user.get("email") else None


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """A time read back from MongoDB, in UTC whether or not the client is tz-aware."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
