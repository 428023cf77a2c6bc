"""A local SMTP server that keeps every message it accepts in a Maildir.

``python -m deploy.local.smtp_server --host 127.0.0.1 --port 2525 --maildir DATA_DIR/mail``

aiosmtpd's ``SMTP`` protocol served by a plain asyncio server in the main thread (no
``Controller`` thread). Any sender and any recipient are accepted, without authentication or
TLS; nothing is relayed. Each message is stored as it arrived, in the Maildir's ``new/``
folder, with three headers added on top that record the SMTP envelope (which the message's
own headers need not match, e.g. for Bcc)::

    X-Peer: 127.0.0.1:54321
    X-MailFrom: no-reply@picasso.local
    X-RcptTo: ann@example.com, bob@example.com

Read it with :class:`mailbox.Maildir`. SIGTERM or SIGINT stops it cleanly (exit code 0).
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import signal
import sys
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

HOSTNAME = "localhost"  # the name in the greeting; explicit, so no getfqdn() DNS lookup


class MaildirHandler:
    """aiosmtpd handler: store each accepted message in a Maildir."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.maildir = mailbox.Maildir(self.path, create=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):  # only with decode_data=True, which we do not use
            content = content.encode("utf-8", errors="surrogateescape")
        peer = session.peer
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        envelope_headers = (
            f"X-Peer: {peer_text}\r\n"
            f"X-MailFrom: {envelope.mail_from or ''}\r\n"
            f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        # Maildir files conventionally end lines with LF; SMTP carries CRLF.
        raw = (envelope_headers + content).replace(b"\r\n", b"\n")
        try:
            # A small local write; done inline so two sessions never race on Maildir's
            # unique-name counter.
            key = self.maildir.add(raw)
        except (OSError, mailbox.Error) as exc:
            print(f"smtp: could not store a message: {exc!r}", flush=True)
            return "451 Requested action aborted: local error in processing"
        print(
            f"smtp: stored {key} from <{envelope.mail_from}> to "
            f"{', '.join(f'<{r}>' for r in envelope.rcpt_tos)} ({len(content)} bytes)",
            flush=True,
        )
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, maildir: Path) -> None:
    """Serve SMTP on ``host:port`` until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    handler = MaildirHandler(maildir)

    def protocol() -> Any:
        return SMTP(handler, hostname=HOSTNAME, enable_SMTPUTF8=True, loop=loop)

    server = await loop.create_server(protocol, host=host, port=port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"smtp: listening on {host}:{port}, storing mail in {handler.path}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
    print("smtp: stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.smtp_server",
        description="Accept mail over SMTP and keep it in a Maildir.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2525, help="TCP port (default 2525)")
    parser.add_argument("--maildir", type=Path, required=True, help="the Maildir (created)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.maildir.absolute()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
