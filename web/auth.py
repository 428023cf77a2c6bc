"""Firebase Authentication: accounts through the Identity Toolkit REST API, ID tokens
verified with firebase-admin.

Locally both talk to the Firebase Auth emulator (``FIREBASE_AUTH_EMULATOR_HOST``);
in production the same code talks to Google with a real API key and project.

With the emulator, firebase-admin accepts unsigned ID tokens (``alg: none``): anyone can
make one for any user. That is by design for ``make run`` and the tests (PICASSO_ENV local or
test) and refused everywhere else: Settings will not start with the emulator variable set,
and :class:`FirebaseAuth` checks again, because firebase-admin reads that variable from the
process environment on every verification, not from Picasso's settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, AsyncIterator

import aiohttp
import firebase_admin
import google.auth.credentials
from firebase_admin import auth as firebase_auth

from picasso.settings import Settings
from web.problems import Problem

# Seconds an idle connection to the identity service is kept for reuse (see Auth.start).
IDLE_CONNECTION_S = 4.0

_CACHE_SIZE = 10_000
_EMULATOR_VARIABLE = "FIREBASE_AUTH_EMULATOR_HOST"


@dataclass(frozen=True)
class Identity:
    """Who a verified ID token says the caller is."""

    user_id: str
    email: str | None
    display_name: str | None


@dataclass(frozen=True)
class Session:
    """What sign-up, sign-in and refresh answer: the API's token shape."""

    user_id: str
    id_token: str
    refresh_token: str
    expires_in: int

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "id_token": self.id_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
        }


class FirebaseAuth:
    """Sign-up, sign-in, refresh and token verification against one Firebase project."""

    def __init__(self, settings: Settings) -> None:
        if not settings.local and (settings.firebase_auth_emulator_host
                                   or os.environ.get(_EMULATOR_VARIABLE)):
            raise RuntimeError(f"{_EMULATOR_VARIABLE} is set outside PICASSO_ENV=local/test; "
                               "firebase-admin would accept unsigned ID tokens")
        self.settings = settings
        emulator = settings.firebase_auth_emulator_host
        scheme_host = f"http://{emulator}/" if emulator else "https://"
        self.toolkit_url = f"{scheme_host}identitytoolkit.googleapis.com/v1"
        self.token_url = f"{scheme_host}securetoken.googleapis.com/v1/token"
        self.http: aiohttp.ClientSession | None = None
        self.app = self._firebase_app(settings)
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()

    @staticmethod
    def _firebase_app(settings: Settings) -> firebase_admin.App:
        name = f"picasso-{settings.firebase_project_id}"
        try:
            return firebase_admin.get_app(name)
        except ValueError:
            pass
        if settings.firebase_auth_emulator_host:
            # firebase-admin reads the emulator's address from the environment only.
            os.environ[_EMULATOR_VARIABLE] = settings.firebase_auth_emulator_host
        return firebase_admin.initialize_app(
            _NoCredential(), {"projectId": settings.firebase_project_id}, name=name
        )

    async def start(self) -> None:
        # An idle connection is closed here before the identity service would close it
        # (Node's servers, the emulator's, after 5 s): a request sent on a connection the
        # other end was closing at that moment fails with "connection reset".
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=15),
            connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_CONNECTION_S))

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def ping(self) -> None:
        """Prove the identity service answers (a sign-in attempt that must be refused)."""
        # Its own failure as it is (the readiness log names it), not the users' 503.
        answer = await self._call_toolkit("accounts:lookup", {"idToken": "readiness-check"})
        if answer[0] >= 500:
            raise ConnectionError(f"identity service answered {answer[0]}")

    async def verify(self, id_token: str) -> Identity:
        """The caller behind a Firebase ID token, or a 401 problem."""
        now = time.time()
        cached = self._verified.get(id_token)
        if cached and cached[1] > now:
            return cached[0]
        try:
            claims = await asyncio.to_thread(
                firebase_auth.verify_id_token, id_token, self.app, False, 0
            )
        except (ValueError, firebase_auth.InvalidIdTokenError,
                firebase_auth.ExpiredIdTokenError, firebase_auth.RevokedIdTokenError,
                firebase_auth.UserDisabledError) as exc:
            raise Problem(401, f"the ID token was refused: {_first_line(exc)}") from None
        except firebase_auth.CertificateFetchError as exc:
            raise Problem(503, f"cannot check ID tokens right now: {exc}") from None
        identity = Identity(claims["uid"], claims.get("email"), claims.get("name"))
        self._verified[id_token] = (identity, float(claims.get("exp", now)))
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return identity

    async def sign_up(self, email: str, password: str, display_name: str) -> Session:
        status, body = await self._toolkit("accounts:signUp", {
            "email": email, "password": password, "displayName": display_name,
            "returnSecureToken": True,
        })
        if status != 200:
            code = _error_code(body)
            if code == "EMAIL_EXISTS":
                raise Problem(409, "an account with this email exists already")
            if code.startswith(("WEAK_PASSWORD", "INVALID_EMAIL", "MISSING_PASSWORD")):
                raise Problem(422, f"the account was refused: {code}")
            raise Problem(502, f"the identity service refused the sign-up: {code}")
        return _session(body)

    async def sign_in(self, email: str, password: str) -> Session:
        status, body = await self._toolkit("accounts:signInWithPassword", {
            "email": email, "password": password, "returnSecureToken": True,
        })
        if status != 200:
            code = _error_code(body)
            if code.startswith(("EMAIL_NOT_FOUND", "INVALID_PASSWORD", "INVALID_LOGIN",
                                "INVALID_EMAIL", "USER_DISABLED", "MISSING_PASSWORD")):
                raise Problem(401, "the email or the password is wrong")
            raise Problem(502, f"the identity service refused the sign-in: {code}")
        return _session(body)

    async def refresh(self, refresh_token: str) -> Session:
        async with _answering(), self.http.post(
            self.token_url, params={"key": self.settings.firebase_api_key},
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        ) as answer:
            body = await answer.json(content_type=None)
            if answer.status != 200:
                code = _error_code(body)
                status = 401 if answer.status < 500 else 502
                raise Problem(status, f"the refresh token was refused: {code}")
        return Session(body["user_id"], body["id_token"], body["refresh_token"],
                       int(body["expires_in"]))

    async def _toolkit(self, method: str, payload: dict) -> tuple[int, dict]:
        async with _answering():
            return await self._call_toolkit(method, payload)

    async def _call_toolkit(self, method: str, payload: dict) -> tuple[int, dict]:
        async with self.http.post(
            f"{self.toolkit_url}/{method}", params={"key": self.settings.firebase_api_key},
            json=payload,
        ) as answer:
            return answer.status, await answer.json(content_type=None)


@contextlib.asynccontextmanager
async def _answering() -> AsyncIterator[None]:
    """The identity service not answering (refused, reset, timed out) is a 503 to try again,
    not the edge's own failure."""
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Problem(503, f"the identity service did not answer ({type(exc).__name__}); "
                           "try again", headers={"Retry-After": "1"}) from None


class _NoCredential(firebase_admin.credentials.Base):
    """firebase-admin only verifies ID tokens here, which takes Google's public certificates
    and the project id, no credential (accounts go through the REST API with the API key).
    Without this, firebase-admin looks for application default credentials when it first
    verifies a token and, on a machine without them, every signed-in request failed with 500.
    """

    def get_credential(self) -> google.auth.credentials.Credentials:
        return google.auth.credentials.AnonymousCredentials()


def _session(body: dict) -> Session:
    return Session(body["localId"], body["idToken"], body["refreshToken"],
                   int(body.get("expiresIn", 3600)))


def _error_code(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message", "UNKNOWN"))
        if isinstance(error, str):
            return error
    return "UNKNOWN"


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
