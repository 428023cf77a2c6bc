"""The mail agent: consumes users, pictures and purchases events and sends mail over SMTP.

One Faust agent per topic, all sharing one :class:`~agents.mail.logic.Mailer`. Every record
type of those topics is accepted (the ones mail has nothing to say about are ignored), so
that only messages that do not parse go to the dead letters.
"""

from __future__ import annotations

import faust

from agents.app import app, consume, faust_topic, opened_once, resources, send, settings
from agents.mail.logic import Mailer
from agents.runtime import Agent
from topics import PICTURES_EVENTS, PURCHASES_EVENTS, USERS_EVENTS, Topic
from topics.registry import RECORDS


async def _open() -> Mailer:
    return Mailer.from_settings((await resources()).db, settings)


_mailer = opened_once(_open)


async def _run(stream: faust.StreamT, topic: Topic) -> None:
    mailer = await _mailer()
    accepted = [record for record in RECORDS.values() if record.topic is topic]
    # The delivery documents are the mail agent's inbox: no runtime Inbox on top.
    domain = Agent("mail", accepted, mailer.handle, send, settings.topic_prefix, None)
    await consume(stream, domain)


@app.agent(faust_topic(USERS_EVENTS), name="mail-users")
async def mail_users(stream: faust.StreamT) -> None:
    await _run(stream, USERS_EVENTS)


@app.agent(faust_topic(PICTURES_EVENTS), name="mail-pictures")
async def mail_pictures(stream: faust.StreamT) -> None:
    await _run(stream, PICTURES_EVENTS)


@app.agent(faust_topic(PURCHASES_EVENTS), name="mail-purchases")
async def mail_purchases(stream: faust.StreamT) -> None:
    await _run(stream, PURCHASES_EVENTS)
