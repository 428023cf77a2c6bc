"""The pure parts of browser sessions: CSRF tokens, reading a token's expiry, the page's CSP."""

from __future__ import annotations

import base64
import json

from picasso.settings import Settings
from web.routes.ui import content_security_policy
from web.sessions import csrf_token, token_expiry


def _jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


def test_the_csrf_token_is_bound_to_the_session_and_the_key() -> None:
    settings = Settings(signing_key="one key")
    token = csrf_token(settings, "refresh-a")
    assert token == csrf_token(settings, "refresh-a")
    assert token != csrf_token(settings, "refresh-b")
    assert token != csrf_token(Settings(signing_key="another key"), "refresh-a")
    assert "refresh-a" not in token and len(token) == 64


def test_token_expiry_reads_exp_without_checking_the_token() -> None:
    assert token_expiry(_jwt({"exp": 1_900_000_000, "sub": "u"})) == 1_900_000_000
    for broken in ("", "no-dots", "a.%%%.c", _jwt({"sub": "no exp"}), _jwt({"exp": "soon"})):
        assert token_expiry(broken) == 0.0


def test_the_pages_may_show_media_from_the_media_address_only() -> None:
    policy = content_security_policy(Settings(public_media_url="http://127.0.0.1:9000/bucket"))
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["img-src"] == "'self' blob: http://127.0.0.1:9000"
    assert directives["script-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
