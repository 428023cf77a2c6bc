"""Stripe: localstripe, run by ``deploy.local.localstripe_server`` (state in memory only).

Ready when ``GET /v1/customers`` answers to the local secret key; then the stack's webhook,
if it knows a URL, is registered (localstripe forgets webhooks when it stops).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from deploy.local.servers.base import HOST, Launch, Recipe, Site, StackError, python_env
from picasso.settings import LOCAL_DEFAULTS

SECRET_KEY = LOCAL_DEFAULTS["STRIPE_SECRET_KEY"]
WEBHOOK_SECRET = LOCAL_DEFAULTS["STRIPE_WEBHOOK_SECRET"]
WEBHOOK_ID = "picasso"  # POST /_config/webhooks/<id>; registering again replaces it
WEBHOOK_EVENTS: tuple[str, ...] = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",  # localstripe 1.15.10 never emits it; real Stripe does
)


def api_base(port: int, host: str = HOST) -> str:
    return f"http://{host}:{port}"


def _list_customers(host: str, port: int) -> None:
    request = urllib.request.Request(
        f"{api_base(port, host)}/v1/customers?limit=1",
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=2) as response:
        body = json.load(response)
    if body.get("object") != "list":
        raise RuntimeError(f"GET /v1/customers answered {body!r}")


def check_webhook_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"a webhook URL must be http(s)://host[:port]/path, not {url!r}")


def register_webhook(port: int, url: str, log: Callable[[str], object],
                     host: str = HOST) -> None:
    """``POST /_config/webhooks/<id>`` (localstripe's own, form-encoded: url, secret, events[])."""
    form = [("url", url), ("secret", WEBHOOK_SECRET)]
    form += [("events[]", event) for event in WEBHOOK_EVENTS]
    request = urllib.request.Request(
        f"{api_base(port, host)}/_config/webhooks/{WEBHOOK_ID}",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise StackError(
            f"stripe: registering webhook {url!r} failed: {exc.code} {exc.read()[:200]!r}"
        ) from exc
    except OSError as exc:
        raise StackError(f"stripe: registering webhook {url!r} failed: {exc}") from exc
    log(f"stack: stripe webhook {WEBHOOK_ID!r} -> {url}")


def prepare(site: Site) -> Launch:
    def after_ready() -> None:
        url = site.stripe_webhook_url()
        if url is not None:
            register_webhook(site.port, url, site.log, site.host)

    return Launch(
        argv=[
            sys.executable, "-m", "deploy.local.localstripe_server",
            "--host", site.bind,
            "--port", str(site.port),
        ],
        cwd=site.workdir,  # it writes nothing: state stays in memory
        env=python_env(),
        probe=lambda: _list_customers(site.host, site.port),
        after_ready=after_ready,
    )


RECIPE = Recipe("stripe", ready_timeout_s=30.0, prepare=prepare)
