"""SMTP: aiosmtpd, run by ``deploy.local.smtp_server``; every message kept in a Maildir.

Ready when it answers ``NOOP`` (smtplib).
"""

from __future__ import annotations

import smtplib
import sys
from pathlib import Path

from deploy.local.servers.base import Launch, Recipe, Site, python_env


def maildir(data_dir: Path) -> Path:
    """The Maildir where the local SMTP server keeps every message it accepts."""
    return data_dir / "mail"


def _noop(host: str, port: int) -> None:
    # local_hostname: skip smtplib's getfqdn(), a DNS lookup that can be slow.
    with smtplib.SMTP(host, port, local_hostname="localhost", timeout=2) as smtp:
        code, message = smtp.noop()
        if code != 250:
            raise RuntimeError(f"NOOP answered {code} {message!r}")


def prepare(site: Site) -> Launch:
    return Launch(
        argv=[
            sys.executable, "-m", "deploy.local.smtp_server",
            "--host", site.bind,
            "--port", str(site.port),
            "--maildir", str(maildir(site.data_dir)),
        ],
        cwd=site.workdir,
        env=python_env(),
        probe=lambda: _noop(site.host, site.port),
    )


RECIPE = Recipe("smtp", ready_timeout_s=30.0, prepare=prepare)
