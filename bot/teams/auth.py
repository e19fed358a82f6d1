"""Who may talk to Reflect's Teams endpoint, and how Reflect proves itself when it writes.

Every activity Teams posts carries a JWT signed by the Bot Framework. ``ActivityTokens`` checks
it as Microsoft's connector authentication says: signed by a key named in the OpenID metadata
document (and endorsed for the activity's channel), issued by that document's issuer, for this
app (the audience), unexpired, and naming the service URL the activity came from. The keys are
read once and kept for a day (PyJWT's key cache; a key not yet seen is read again at once).

``AppTokens`` gets Reflect's own token for the Bot Connector (client credentials) and keeps it
until shortly before it expires.

Both are synchronous: Reflect's server answers on threads, and both are a few HTTP calls.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256"]
# Microsoft's guidance allows five minutes of clock skew between it and a bot.
LEEWAY_SECONDS = 300
KEYS_LIFESPAN_SECONDS = 24 * 3600
FETCH_TIMEOUT_SECONDS = 10
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
# A token is renewed this long before it expires.
RENEW_BEFORE_SECONDS = 300


class Refused(Exception):
    """The request is not from Teams for this app; the reason is for the operator's log."""


@dataclass(frozen=True)
class Caller:
    """What a valid token says about who sent the activity."""

    app_id: str
    service_url: str


class ActivityTokens:
    """Checks the bearer token on each activity Teams posts."""

    def __init__(self, *, app_id: str, openid_url: str) -> None:
        self.app_id = app_id
        self.openid_url = openid_url
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: jwt.PyJWKClient | None = None

    def check(self, authorization: str | None, *, service_url: str, channel_id: str) -> Caller:
        """The caller, if ``authorization`` is a valid Bot Framework token for this app and
        this activity; raises Refused otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Refused("no bearer token")
        try:
            issuer, keys = self._signing()
            signing_key = keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=ALGORITHMS,
                audience=self.app_id,
                issuer=issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise Refused(f"signing keys unavailable: {exc}") from None
        except jwt.PyJWTError as exc:
            raise Refused(f"invalid token: {exc}") from None
        endorsements = signing_key._jwk_data.get("endorsements")
        if endorsements is not None and channel_id not in endorsements:
            raise Refused(f"signing key not endorsed for channel {channel_id!r}")
        claimed = str(claims.get("serviceurl") or claims.get("serviceUrl") or "")
        if not claimed or claimed.rstrip("/") != service_url.rstrip("/"):
            raise Refused("the token names another service URL than the activity's")
        return Caller(app_id=self.app_id, service_url=service_url)

    def _signing(self) -> tuple[str, jwt.PyJWKClient]:
        with self._lock:
            if self._metadata is None or self._keys is None:
                metadata = _read_json(self.openid_url)
                self._keys = jwt.PyJWKClient(
                    str(metadata["jwks_uri"]),
                    lifespan=KEYS_LIFESPAN_SECONDS,
                    timeout=FETCH_TIMEOUT_SECONDS,
                )
                self._metadata = metadata
            return str(self._metadata["issuer"]), self._keys


def _read_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
            document = json.load(response)
    except (OSError, ValueError) as exc:
        raise jwt.PyJWKClientConnectionError(f"cannot read {url}: {exc}") from None
    if not isinstance(document, dict) or "issuer" not in document or "jwks_uri" not in document:
        raise jwt.PyJWKClientConnectionError(f"{url} is not an OpenID metadata document")
    return document


class AppTokens:
    """Reflect's bearer token for the Bot Connector, from the tenant's token endpoint."""

    def __init__(self, *, app_id: str, secret: str, token_url: str, client: httpx.Client) -> None:
        self.app_id = app_id
        self.secret = secret
        self.token_url = token_url
        self.client = client
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        """A valid token; raises httpx.HTTPError when the endpoint cannot give one."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                response = self.client.post(
                    self.token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.app_id,
                        "client_secret": self.secret,
                        "scope": BOT_FRAMEWORK_SCOPE,
                    },
                )
                response.raise_for_status()
                body = response.json()
                self._token = str(body["access_token"])
                lifetime = float(body.get("expires_in") or 3600)
                self._renew_at = time.monotonic() + max(lifetime - RENEW_BEFORE_SECONDS, 0)
            return self._token

    def forget(self) -> None:
        """The connector refused the token (401): the next send gets a new one."""
        with self._lock:
            self._token = None


def token_url_for(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
