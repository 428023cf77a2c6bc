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


def _facts(topic: Topic) -> None:
    """The agent of one topic of facts, ``notifications-<domain>``. Every record of the
    topic is accepted (those no notification comes from are ignored), so that only
    messages that do not parse are dead-lettered."""
    name = f"notifications-{topic.base_name.split('.')[1]}"
    accepted = [record for record in RECORDS.values() if record.topic is topic]

    async def facts(stream: faust.StreamT) -> None:
        domain = await _notifications()
        await service.consume(stream, service.agent(name, accepted, domain.fact))

    app.agent(service.topic(topic), name=name)(facts)


for _topic in (PICTURES_EVENTS, SOCIAL_EVENTS, REACTIONS_EVENTS, COMMENTS_EVENTS,
               PURCHASES_EVENTS):
    _facts(_topic)
