"""The purchases agent: consumes ``picasso.purchases.commands`` and ``picasso.payments.events``,
owns the MariaDB ledger and the Stripe PaymentIntents."""

from __future__ import annotations

import faust

from agents.app import app, consume, faust_topic, opened_once, resources, send, settings
from agents.purchases.gateway import PaymentGateway
from agents.purchases.ledger import Ledger
from agents.purchases.logic import Purchases
from agents.runtime import Agent, Inbox
from picasso.mongo import PURCHASES_PROCESSED
from topics import PAYMENTS_EVENTS, PURCHASES_COMMANDS
from topics.purchases import PAYMENT_FAILED, PAYMENT_SUCCEEDED, PURCHASE_PICTURE


async def _open() -> Purchases:
    ledger = await Ledger.open(list(settings.mysql_shards))
    return Purchases((await resources()).db, ledger, PaymentGateway(settings))


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
    await _run(stream, (PURCHASE_PICTURE,))


@app.agent(faust_topic(PAYMENTS_EVENTS), name="payments")
async def payments(stream: faust.StreamT) -> None:
    await _run(stream, (PAYMENT_SUCCEEDED, PAYMENT_FAILED))
