"""The notifications agents: ``picasso.notifications.commands`` (with an inbox, so each
command is applied once), and one per topic of facts a notification comes from. Facts get
no inbox: each notification's id derives from its event's (or, for likes, the picture's with
the set of likers), so applying a fact twice writes nothing new."""

from __future__ import annotations

import faust

from agents.notifications.app import app, service
from agents.notifications.notifications import Notifications
from picasso.mongo import NOTIFICATIONS_PROCESSED
from topics import (
    COMMENTS_EVENTS,
    NOTIFICATIONS_COMMANDS,
    PICTURES_EVENTS,
    PURCHASES_EVENTS,
    REACTIONS_EVENTS,
    SOCIAL_EVENTS,
    Topic,
)
from topics.notifications import MARK_NOTIFICATIONS_READ
from topics.registry import RECORDS


async def _notifications() -> Notifications:
    notifications = Notifications((await service.resources()).db)
    await notifications.ensure_indexes()
    return notifications


@app.agent(service.topic(NOTIFICATIONS_COMMANDS), name="notifications")
async def commands(stream: faust.StreamT) -> None:
    domain = await _notifications()
    agent = service.agent("notifications", (MARK_NOTIFICATIONS_READ,), domain.mark_read,
                          inbox=NOTIFICATIONS_PROCESSED, db=domain.db)
    await service.consume(stream, agent)


async def _facts(stream: faust.StreamT, name: str, topic: Topic) -> None:
    """Every record of ``topic`` is accepted (those no notification comes from are ignored),
    so that only messages that do not parse are dead-lettered."""
    accepted = [record for record in RECORDS.values() if record.topic is topic]
    domain = await _notifications()
    await service.consume(stream, service.agent(name, accepted, domain.fact))


@app.agent(service.topic(PICTURES_EVENTS), name="notifications-pictures")
async def pictures(stream: faust.StreamT) -> None:
    await _facts(stream, "notifications-pictures", PICTURES_EVENTS)


@app.agent(service.topic(SOCIAL_EVENTS), name="notifications-social")
async def social(stream: faust.StreamT) -> None:
    await _facts(stream, "notifications-social", SOCIAL_EVENTS)


@app.agent(service.topic(REACTIONS_EVENTS), name="notifications-reactions")
async def reactions(stream: faust.StreamT) -> None:
    await _facts(stream, "notifications-reactions", REACTIONS_EVENTS)


@app.agent(service.topic(COMMENTS_EVENTS), name="notifications-comments")
async def comments(stream: faust.StreamT) -> None:
    await _facts(stream, "notifications-comments", COMMENTS_EVENTS)


@app.agent(service.topic(PURCHASES_EVENTS), name="notifications-purchases")
async def purchases(stream: faust.StreamT) -> None:
    await _facts(stream, "notifications-purchases", PURCHASES_EVENTS)
