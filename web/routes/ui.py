"""The browser UI: one HTML page for every address under ``/app``, its static files, and
the settings the page needs (``GET /api/v1/config``).

The UI is plain HTML, CSS and JavaScript modules in ``web/static`` with no build step, so
the files served are the files in the repository. Without fingerprinted file names, the
static files are revalidated on each use (``no-cache`` with ETag / Last-Modified: a 304
costs one small round trip) and never go stale after a release.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from picasso.settings import Settings
from topics.comments import TEXT_MAX as COMMENT_TEXT_MAX
from topics.pictures import DESCRIPTION_MAX, TITLE_MAX
from web.problems import Problem
from web.services import services

routes = web.RouteTableDef()
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
INDEX = STATIC_DIR / "index.html"
_REVALIDATE = "no-cache"


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and calls only from this origin; pictures also from the media
    address (a bucket, locally another port) and ``blob:`` for an upload's local preview."""
    media = urlsplit(settings.public_media_url)
    media_origin = f"{media.scheme}://{media.netloc}" if media.netloc else ""
    return "; ".join([
        "default-src 'self'",
        f"img-src 'self' blob: {media_origin}".strip(),
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(INDEX, headers={
        "Cache-Control": _REVALIDATE,
        "Content-Security-Policy": content_security_policy(services(request).settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    })


@routes.get("/")
async def home(request: web.Request) -> web.FileResponse:
    return _page(request)


@routes.get("/app/{view:.*}")
async def app_page(request: web.Request) -> web.FileResponse:
    """Every UI address answers the same page; its script draws the view the path names."""
    return _page(request)


@routes.get("/static/{path:.+}")
async def static_file(request: web.Request) -> web.FileResponse:
    path = (STATIC_DIR / request.match_info["path"]).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        raise Problem(404, "no such file")
    return web.FileResponse(path, headers={"Cache-Control": _REVALIDATE,
                                           "X-Content-Type-Options": "nosniff"})


# Stripe's test payment methods, offered by the page in test mode; the local Stripe
# (deploy/local/localstripe_server.py) declines the same ones as Stripe's test mode.
TEST_PAYMENT_METHODS = (
    {"id": "pm_card_visa", "label": "Test Visa card (succeeds)"},
    {"id": "pm_card_visa_chargeDeclined", "label": "Test card that is declined"},
    {"id": "pm_card_chargeDeclinedInsufficientFunds",
     "label": "Test card declined for insufficient funds"},
)


@routes.get("/api/v1/config")
async def config(request: web.Request) -> web.Response:
    settings = services(request).settings
    test_mode = settings.stripe_secret_key.startswith("sk_test_")
    return web.json_response({
        "max_upload_bytes": settings.max_upload_bytes,
        # The form's limits are the contract's (topics.pictures), never retyped in a page.
        "limits": {"title_max": TITLE_MAX, "description_max": DESCRIPTION_MAX,
                   "comment_max": COMMENT_TEXT_MAX},
        "payments": {
            "test_mode": test_mode,
            "test_payment_methods": list(TEST_PAYMENT_METHODS) if test_mode else [],
        },
    }, headers={"Cache-Control": "no-cache"})
