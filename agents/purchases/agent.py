"""The purchases agent: consumes ``picasso.purchases.commands`` and ``picasso.payments.events``,
owns the MariaDB ledger and the Stripe PaymentIntents and refunds, and publishes the read
models of purchases the edge serves (:mod:`agents.purchases.views`). A third agent keeps the
service's catalogue of pictures from ``picasso.pictures.events``
(:mod:`agents.purchases.catalogue`).

A timer on every worker looks for purchases whose payment is overdue and sends each an
``ExpirePurchase`` command. The command's id derives from the purchase, so several workers
sweeping at once send the same command, which the runtime's inbox applies once; the ledger's
conditional update is the second guard.
"""

from __future__ import annotations

import faust
import structlog

from agents.app import app, consume, faust_topic, opened_once, resources, send, settings
from agents.purchases.catalogue import Catalogue
from agents.purchases.gateway import PaymentGateway
from agents.purchases.ledger import Ledger
from agents.purchases.logic import SOURCE, Purchases
from agents.purchases.migrate import migrate  # noqa: F401 - the command's function, see there
from agents.runtime import Agent, Inbox
from picasso.failures import is_transient
from picasso.mongo import PURCHASES_PROCESSED
from topics import PAYMENTS_EVENTS, PICTURES_EVENTS, PURCHASES_COMMANDS
from topics.envelope import CloudEvent
from topics.purchases import (
    EXPIRE_PURCHASE,
    PAYMENT_DISPUTED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    PAYMENT_SUCCEEDED,
    PURCHASE_PICTURE,
    REFUND_PURCHASE,
)
from topics.registry import RECORDS

log = structlog.get_logger()
# How many overdue purchases one sweep sends commands for; the next sweep takes the rest.
SWEEP_BATCH = 200


async def _open() -> Purchases:
    ledger = await Ledger.open(list(settings.mysql_shards))
    domain = Purchases((await resources()).db, ledger, PaymentGateway(settings))
    await domain.views.ensure_indexes()
    return domain


# One ledger (its connection pools) and one Stripe client for both agents below.
_purchases = opened_once(_open)


async def _run(stream: faust.StreamT, accepted: tuple) -> None:
    domain = await _purchases()
    db = (await resources()).db
    agent = Agent("purchases", accepted, domain.handle, send, settings.topic_prefix,
                  Inbox(db[PURCHASES_PROCESSED]))
    await consume(stream, agent)


@app.agent(faust_topic(PURCHASES_COMMANDS), name="purchases")
async def purchases(stream: faust.StreamT) -> None:
    await _run(stream, (PURCHASE_PICTURE, REFUND_PURCHASE, EXPIRE_PURCHASE))


@app.agent(faust_topic(PAYMENTS_EVENTS), name="payments")
async def payments(stream: faust.StreamT) -> None:
    await _run(stream, (PAYMENT_SUCCEEDED, PAYMENT_FAILED, PAYMENT_REFUNDED, PAYMENT_DISPUTED))


@app.agent(faust_topic(PICTURES_EVENTS), name="purchases-catalogue")
async def catalogue(stream: faust.StreamT) -> None:
    """Keeps the catalogue; every pictures record is accepted (the ones a purchase needs
    nothing of are ignored), so that only messages that do not parse are dead-lettered.
    No inbox: applying an event twice writes the same guarded fields again."""
    accepted = [record for record in RECORDS.values() if record.topic is PICTURES_EVENTS]
    catalogue = Catalogue((await resources()).db)  # needs neither the ledger nor Stripe
    await consume(stream, Agent("purchases-catalogue", accepted, catalogue.handle, send,
                                settings.topic_prefix, None))


@app.timer(interval=settings.purchase_expiry_sweep_s)
async def expire_overdue() -> None:
    """Send ``ExpirePurchase`` for each purchase awaiting payment past the deadline."""
    try:
        domain = await _purchases()
        overdue = await domain.ledger.overdue(settings.purchase_payment_timeout_s, SWEEP_BATCH)
        topic = PURCHASES_COMMANDS.name(settings.topic_prefix)
        for purchase in overdue:
            command = CloudEvent(
                type=EXPIRE_PURCHASE.type, subject=purchase.purchase_id, source=SOURCE,
                data={"purchase_id": purchase.purchase_id, "buyer_id": purchase.buyer_id},
                id=f"expire-{purchase.purchase_id}",
            )
            await send(topic, purchase.purchase_id.encode(), command.to_json())
    except Exception as exc:  # noqa: BLE001 - a sweep that fails is simply the next one's
        if is_transient(exc):
            log.warning("expiry_sweep_postponed", error=repr(exc))
        else:
            log.exception("expiry_sweep_failed")
