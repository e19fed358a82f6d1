"""One settings object, read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.db import BATCH_LIMITS, REQUEST_LIMITS, Limits

DEFAULT_DATABASE_URL = "sqlite:///reflect.db"
DEFAULT_TIMEZONE = "Europe/London"
# /healthz fails when an answer has waited this long to be handled.
DEFAULT_OLDEST_UNHANDLED_SECONDS = 120
# The partnership report hides counts under this; never below 3.
DEFAULT_REPORT_SMALL_NUMBER = 5


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def normalise_database_url(url: str) -> str:
    """Accept Heroku-style ``postgres://`` URLs and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    timezone: str = DEFAULT_TIMEZONE
    encryption_keys: tuple[str, ...] = ()
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str | None = None
    port: int = 3000
    # Database limits for the web process (Slack's three seconds), and for everything else.
    request_limits: Limits = REQUEST_LIMITS
    batch_limits: Limits = BATCH_LIMITS
    serving_requests: bool = False
    oldest_unhandled_seconds: int = DEFAULT_OLDEST_UNHANDLED_SECONDS
    report_small_number: int = DEFAULT_REPORT_SMALL_NUMBER

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        timezone = env.get("REFLECT_TIMEZONE") or DEFAULT_TIMEZONE
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(
                f"REFLECT_TIMEZONE={timezone!r} is not a time zone I know; try Europe/London."
            ) from exc
        port_text = env.get("PORT") or "3000"
        if not port_text.isdigit():
            raise SettingsError(f"PORT={port_text!r} is not a port number.")
        keys = tuple(
            k.strip() for k in (env.get("REFLECT_ENCRYPTION_KEY") or "").split(",") if k.strip()
        )
        return cls(
            database_url=normalise_database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL),
            timezone=timezone,
            encryption_keys=keys,
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None,
            slack_api_url=env.get("SLACK_API_URL") or None,
            port=int(port_text),
            request_limits=_limits(env, "REFLECT_DB_", REQUEST_LIMITS),
            batch_limits=_limits(env, "REFLECT_DB_BATCH_", BATCH_LIMITS),
            oldest_unhandled_seconds=_whole(
                env, "REFLECT_HEALTH_OLDEST_UNHANDLED_SECONDS", DEFAULT_OLDEST_UNHANDLED_SECONDS
            ),
            report_small_number=_small_number(env),
        )

    def for_requests(self) -> Settings:
        """These settings for the web process, whose database work uses request_limits."""
        return replace(self, serving_requests=True)

    @property
    def database_limits(self) -> Limits:
        return self.request_limits if self.serving_requests else self.batch_limits

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}={raw!r} must be a whole number of at least 1.")
    return int(raw)


def _small_number(env: Mapping[str, str]) -> int:
    raw = env.get("REFLECT_REPORT_SMALL_NUMBER") or str(DEFAULT_REPORT_SMALL_NUMBER)
    if not raw.isdigit() or int(raw) < 3:
        raise SettingsError(
            f"REFLECT_REPORT_SMALL_NUMBER={raw!r}: the report must hide counts under at least 3 "
            "(smaller numbers could point to a child or family); use 3 or more (default 5)."
        )
    return int(raw)


def _limits(env: Mapping[str, str], prefix: str, default: Limits) -> Limits:
    """REFLECT_DB_STATEMENT_TIMEOUT_MS and friends (REFLECT_DB_BATCH_... for batch work)."""
    return replace(
        default,
        connect_timeout_s=_whole(
            env, prefix + "CONNECT_TIMEOUT_SECONDS", default.connect_timeout_s
        ),
        statement_timeout_ms=_whole(
            env, prefix + "STATEMENT_TIMEOUT_MS", default.statement_timeout_ms
        ),
        lock_timeout_ms=_whole(env, prefix + "LOCK_TIMEOUT_MS", default.lock_timeout_ms),
        idle_in_transaction_timeout_ms=_whole(
            env, prefix + "IDLE_IN_TRANSACTION_TIMEOUT_MS", default.idle_in_transaction_timeout_ms
        ),
    )
