"""The mail agent: consumes users, pictures, purchases, social and comments events and sends
mail over SMTP.

One Faust agent per topic, all sharing one :class:`~agents.mail.mailer.Mailer`. Every record
type of those topics is accepted (the ones mail has nothing to say about are ignored), so
that only messages that do not parse go to the dead letters.

Mail that cannot go at once waits in its delivery document; a timer on every worker sweeps
what is due (:meth:`~agents.mail.mailer.Mailer.sweep`), outside the streams.
"""

from __future__ import annotations

import faust
import structlog

from agents.mail.app import app, service
from agents.mail.mailer import Mailer
from picasso.failures import is_transient
from picasso.service import opened_once
from topics import (
    COMMENTS_EVENTS,
    PICTURES_EVENTS,
    PURCHASES_EVENTS,
    SOCIAL_EVENTS,
    USERS_EVENTS,
    Topic,
)
from topics.registry import RECORDS

log = structlog.get_logger()


async def _open() -> Mailer:
    mailer = Mailer.from_settings((await service.resources()).db, service.settings,
                                  service.send)
    await mailer.ensure_indexes()
    return mailer


_mailer = opened_once(_open)


def _agent(topic: Topic) -> None:
    """The agent of one topic, ``mail-<domain>``."""
    accepted = [record for record in RECORDS.values() if record.topic is topic]

    async def run(stream: faust.StreamT) -> None:
        mailer = await _mailer()
        # The delivery documents are the mail agent's inbox: no runtime Inbox on top.
        await service.consume(stream, service.agent("mail", accepted, mailer.handle))

    app.agent(service.topic(topic), name=f"mail-{topic.base_name.split('.')[1]}")(run)


for _topic in (USERS_EVENTS, PICTURES_EVENTS, PURCHASES_EVENTS, SOCIAL_EVENTS,
               COMMENTS_EVENTS):
    _agent(_topic)


@app.timer(interval=service.settings.mail_sweep_interval_s, name="mail-sweeper")
async def mail_sweeper() -> None:
    """Send the mail that is due: retries, and mail whose recipient became known."""
    try:
        await (await _mailer()).sweep()
    except Exception as exc:  # the timer must outlive any one pass; the next one retries
        if is_transient(exc):
            log.warning("mail_sweep_interrupted", error=repr(exc))
        else:
            log.exception("mail_sweep_failed")
