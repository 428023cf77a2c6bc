"""Handing a message to the SMTP relay (aiosmtplib), and what its answer means.

Three outcomes besides success: the relay refused this message for now (a 4xx reply:
:class:`SmtpRefused`), refused it for good (a 5xx: :class:`SmtpRefused` too), or could not
be used at all (no connection, a dropped one, a login or TLS refused:
:class:`RelayUnavailable`). Which of them are worth trying again is decided by
:func:`picasso.failures.is_transient`, as for every other dependency: 4xx replies and an
unavailable relay are, 5xx replies are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

import aiosmtplib

from picasso.settings import Settings

# SMTP's own line limit (998) for headers, so that a long List-Unsubscribe URL stays one
# ``<URL>`` instead of being folded into encoded words that mail clients cannot follow.
# Bodies are already encoded (quoted-printable, 76 columns) when the message is composed.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as it goes to the relay (CRLF line ends)."""
    return message.as_bytes(policy=WIRE_POLICY)


class SmtpRefused(aiosmtplib.SMTPResponseException):
    """The relay answered with an error code for this message.

    An aiosmtplib response error, so that :func:`picasso.failures.is_transient` classifies
    it by its code like any other SMTP reply.
    """

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.text = text

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


class RelayUnavailable(ConnectionError):
    """The relay could not be reached or used; no message was accepted."""


@dataclass(frozen=True)
class Relay:
    """Where mail goes out: host, port, optional login, and STARTTLS (None: if offered)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool | None = None
    timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Relay:
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_username,
                   settings.smtp_password, settings.smtp_starttls, settings.smtp_timeout_s)

    async def submit(self, message: EmailMessage, sender: str, recipient: str) -> str:
        """Send ``message`` to ``recipient``; returns the relay's final reply (``250 …``)."""
        try:
            _, reply = await aiosmtplib.send(
                wire_bytes(message), sender=sender, recipients=[recipient], hostname=self.host,
                port=self.port, username=self.username, password=self.password,
                start_tls=self.starttls, timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            raise SmtpRefused(refused.code, refused.message) from None
        except (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPNotSupported) as exc:
            # Our configuration, not this message: every mail would fail the same way.
            raise RelayUnavailable(f"the relay refused our session: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SmtpRefused(exc.code, exc.message) from None
        except (OSError, aiosmtplib.SMTPException) as exc:
            raise RelayUnavailable(f"the relay at {self.host}:{self.port} is unavailable: "
                                   f"{exc!r}") from exc
        return reply
