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

from agents.purchases.app import app, service
from agents.purchases.catalogue import Catalogue
from agents.purchases.gateway import PaymentGateway
from agents.purchases.ledger import Ledger
from agents.purchases.logic import SOURCE, Purchases
from picasso.failures import is_transient
from picasso.mongo import PURCHASES_PROCESSED
from picasso.service import opened_once
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


settings = service.settings


class LedgerNotMigrated(RuntimeError):
    """The ledger lacks migrations: this worker would write into a schema it does not know."""


async def _open() -> Purchases:
    ledger = await Ledger.open(list(settings.mysql_shards), migrate=False)
    pending = await ledger.pending_migrations()
    if pending:
        await ledger.close()
        missing = "; ".join(f"shard {shard}: {', '.join(map(str, versions))}"
                            for shard, versions in pending.items())
        raise LedgerNotMigrated(f"the ledger lacks migrations ({missing}): run `faust -A "
                                "agents.purchases.app migrate` first")
    await ledger.refresh_bucket_map()
    domain = Purchases((await service.resources()).db, ledger, PaymentGateway(settings))
    await domain.views.ensure_indexes()
    return domain


# One ledger (its connection pools) and one Stripe client for both agents below.
_purchases = opened_once(_open)


async def _run(stream: faust.StreamT, accepted: tuple) -> None:
    domain = await _purchases()
    db = (await service.resources()).db
    agent = service.agent("purchases", accepted, domain.handle, inbox=PURCHASES_PROCESSED, db=db)
    await service.consume(stream, agent)


@app.task
async def check_ledger() -> None:
    """Open the ledger as the worker starts: a worker that cannot use it stops (exit 1,
    the reason in its log) instead of taking partitions it would only retry forever."""
    try:
        await _purchases()
    except LedgerNotMigrated as exc:
        log.error("ledger_not_migrated", error=str(exc))
        await app.crash(exc)
    except Exception as exc:  # noqa: BLE001 - away for now: the agents open it when it is back
        log.warning("ledger_unavailable_at_start", error=repr(exc))


@app.agent(service.topic(PURCHASES_COMMANDS), name="purchases")
async def purchases(stream: faust.StreamT) -> None:
    await _run(stream, (PURCHASE_PICTURE, REFUND_PURCHASE, EXPIRE_PURCHASE))


@app.agent(service.topic(PAYMENTS_EVENTS), name="payments")
async def payments(stream: faust.StreamT) -> None:
    await _run(stream, (PAYMENT_SUCCEEDED, PAYMENT_FAILED, PAYMENT_REFUNDED, PAYMENT_DISPUTED))


@app.agent(service.topic(PICTURES_EVENTS), name="purchases-catalogue")
async def catalogue(stream: faust.StreamT) -> None:
    """Keeps the catalogue; every pictures record is accepted (the ones a purchase needs
    nothing of are ignored), so that only messages that do not parse are dead-lettered.
    No inbox: applying an event twice writes the same guarded fields again."""
    accepted = [record for record in RECORDS.values() if record.topic is PICTURES_EVENTS]
    catalogue = Catalogue((await service.resources()).db)  # needs neither ledger nor Stripe
    await service.consume(stream, service.agent("purchases-catalogue", accepted,
                                                catalogue.handle))


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
            await service.send(topic, purchase.purchase_id.encode(), command.to_json())
    except Exception as exc:  # noqa: BLE001 - a sweep that fails is simply the next one's
        if is_transient(exc):
            log.warning("expiry_sweep_postponed", error=repr(exc))
        else:
            log.exception("expiry_sweep_failed")
