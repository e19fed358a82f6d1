"""Every setting Reflect reads from the environment, in one pydantic-settings model.

Each field is read from exactly one variable, named by its ``validation_alias``; an empty variable
counts as unset. `reflect` validates the whole environment before any command runs, and
``problems()`` turns what pydantic found into one line per bad value in an operator's terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config.clock import LIMITS as THRESHOLD_LIMITS
from bot.config.clock import ClockConfig, Thresholds
from bot.config.retention import RetentionPolicy
from storage.db import (
    BATCH_LIMITS,
    DEFAULT_DATABASE_URL,
    REQUEST_LIMITS,
    Limits,
    normalise_database_url,
)

DEFAULT_TIMEZONE = "Europe/London"
SHOWN_CHARS = 40  # how much of a bad value a message repeats back


class SettingsError(ValueError):
    """A setting is missing or cannot be used; the message says which and how to fix it."""


# ------------------------------------------------------------------ how a setting is declared


def setting(
    variable: str,
    default: Any,
    meaning: str,
    *,
    must: str,
    example: str | None = None,
    secret: bool = False,
    shown_default: str | None = None,
    **limits: Any,
) -> Any:
    """A field read from ``variable``. ``must`` and ``example`` are what a refusal says;
    ``meaning`` and the default are what README.md's table says. A secret's value is never
    repeated back."""
    return Field(
        default,
        validation_alias=variable,
        description=meaning,
        json_schema_extra={
            "must": must,
            "example": example if example is not None else str(default),
            "secret": secret,
            "shown_default": shown_default if shown_default is not None else str(default),
        },
        **limits,
    )


def whole(variable: str, default: int, meaning: str, unit: str, low: int = 1, high: int = 0) -> Any:
    """A whole number of ``unit`` from ``low`` (to ``high``, when given)."""
    bounds = f"from {low} to {high}" if high else f"{low} or more"
    must = f"a whole number of {unit}, {bounds}"
    return setting(variable, default, meaning, must=must, ge=low, le=high or None)


def _iso_time(value: Any) -> Any:
    """A time of day written like 09:00 (pydantic alone would read "9" as nine seconds)."""
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            raise PydanticCustomError("time_of_day", "not a time of day") from None
    return value


def _keys(value: Any) -> Any:
    """REFLECT_ENCRYPTION_KEY is one key, or several separated by commas (the newest first)."""
    if isinstance(value, str):
        return tuple(key.strip() for key in value.split(",") if key.strip())
    return value


def _database_url(url: str) -> str:
    try:
        backend = make_url(normalise_database_url(url)).get_backend_name()
    except (ArgumentError, ValueError):
        backend = ""
    if backend not in {"sqlite", "postgresql"}:
        raise PydanticCustomError("database_url", "not a database URL")
    return normalise_database_url(url)


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError("time_zone", "not a time zone") from None
    return name


def _web_address(url: str | None) -> str | None:
    if url is not None and not re.match(r"^https?://[^\s/]+", url):
        raise PydanticCustomError("web_address", "not a web address")
    return url


DatabaseURL = Annotated[str, AfterValidator(_database_url)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
WebAddress = Annotated[str | None, AfterValidator(_web_address)]
TimeOfDay = Annotated[time, BeforeValidator(_iso_time)]
Keys = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_keys)]


class _Environment(EnvSettingsSource):
    """The process environment, keeping only the variables Settings names (never a field's own
    name, such as TIMEZONE), and taking an empty variable as unset."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        names = {str(field.validation_alias) for field in settings_cls.model_fields.values()}
        self.env_vars = {
            name: value
            for name, value in self.env_vars.items()
            if name in names and value is not None and value.strip()
        }


# ------------------------------------------------------------------ the settings


class Settings(BaseSettings):
    """What a deployment configures. Built once by the command that starts, then passed on."""

    model_config = SettingsConfigDict(
        frozen=True, populate_by_name=True, case_sensitive=True, extra="ignore"
    )

    # Where and how
    database_url: DatabaseURL = setting(
        "DATABASE_URL",
        DEFAULT_DATABASE_URL,
        "the database, SQLite or PostgreSQL (`postgres://` URLs are accepted)",
        must="a database URL starting sqlite:/// or postgres://",
        example="postgres://reflect:PASSWORD@db.example.org:5432/reflect",
        secret=True,
    )
    encryption_keys: Keys = setting(
        "REFLECT_ENCRYPTION_KEY",
        (),
        "Fernet key(s) for free text at rest, comma-separated for rotation (the newest first); "
        "required with PostgreSQL (`reflect keys generate` makes one)",
        must="one or more keys from `reflect keys generate`, separated by commas",
        secret=True,
        shown_default="a key file beside a SQLite database",
    )
    timezone: TimeZoneName = setting(
        "REFLECT_TIMEZONE",
        DEFAULT_TIMEZONE,
        "the time zone times are shown in and working hours counted in",
        must="a time zone name",
    )
    # Slack
    slack_bot_token: str | None = setting(
        "SLACK_BOT_TOKEN",
        None,
        "the bot token (`xoxb-...`)",
        must="a bot token",
        secret=True,
        shown_default="none",
    )
    slack_signing_secret: str | None = setting(
        "SLACK_SIGNING_SECRET",
        None,
        "the signing secret (not needed over Socket Mode)",
        must="the app's signing secret",
        secret=True,
        shown_default="none",
    )
    slack_app_token: str | None = setting(
        "SLACK_APP_TOKEN",
        None,
        "an App-Level Token (`xapp-...`) to run over Socket Mode instead of HTTP",
        must="an app-level token",
        secret=True,
        shown_default="none",
    )
    slack_api_url: WebAddress = setting(
        "SLACK_API_URL",
        None,
        "where Web API calls go (a proxy, or the fake Slack)",
        must="a web address starting http:// or https://",
        example="http://127.0.0.1:8090/api/",
        shown_default="Slack's",
    )
    # Microsoft Teams
    teams_app_id: str | None = setting(
        "TEAMS_APP_ID",
        None,
        "the bot's Microsoft App ID (its Entra app registration's client ID); Teams is served "
        "when it is set",
        must="an app (client) ID",
        example="00000000-0000-0000-0000-000000000000",
        shown_default="none",
    )
    teams_app_secret: str | None = setting(
        "TEAMS_APP_SECRET",
        None,
        "the app registration's client secret",
        must="the app's client secret",
        secret=True,
        shown_default="none",
    )
    teams_tenant_id: str | None = setting(
        "TEAMS_TENANT_ID",
        None,
        "the one Microsoft Entra tenant whose people may use Reflect (activities from any other "
        "are refused); it also issues the bot's tokens",
        must="a tenant (directory) ID",
        example="00000000-0000-0000-0000-000000000000",
        shown_default="none",
    )
    teams_openid_url: WebAddress = setting(
        "TEAMS_OPENID_URL",
        "https://login.botframework.com/v1/.well-known/openidconfiguration",
        "the OpenID metadata document naming the keys that sign Teams' requests",
        must="a web address starting http:// or https://",
        example="http://127.0.0.1:8091/v1/.well-known/openidconfiguration",
        shown_default="Microsoft's",
    )
    teams_token_url: WebAddress = setting(
        "TEAMS_TOKEN_URL",
        None,
        "where the bot gets its own tokens (a proxy, or the fake Teams)",
        must="a web address starting http:// or https://",
        example="http://127.0.0.1:8091/oauth2/v2.0/token",
        shown_default="the tenant's token endpoint",
    )
    teams_connector_url: WebAddress = setting(
        "TEAMS_CONNECTOR_URL",
        None,
        "the only Bot Connector service the bot will post to, for tests (the fake Teams)",
        must="a web address starting http:// or https://",
        example="http://127.0.0.1:8091/",
        shown_default="the one each activity names",
    )
    # The web server
    port: int = setting(
        "PORT",
        3000,
        "the port (`--port` overrides it)",
        must="a port number from 1 to 65535",
        ge=1,
        le=65535,
    )
    web_concurrency: int = whole(
        "WEB_CONCURRENCY", 1, "processes (keep 1 with SQLite)", "processes"
    )
    threads: int = whole("REFLECT_THREADS", 12, "threads per process answering requests", "threads")
    handlers: int = whole(
        "REFLECT_HANDLERS",
        2,
        "handling answers after the 200",
        "threads",
    )
    senders: int = whole(
        "REFLECT_SENDERS",
        16,
        "sending to Slack (raise it if Slack answers slowly)",
        "threads",
    )
    oldest_unhandled_seconds: int = whole(
        "REFLECT_HEALTH_OLDEST_UNHANDLED_SECONDS",
        120,
        "seconds an answer may wait to be handled before `/healthz/backlog` says so",
        "seconds",
    )
    oldest_unsent_seconds: int = whole(
        "REFLECT_HEALTH_OLDEST_UNSENT_SECONDS",
        120,
        "seconds a message may wait to be sent before `/healthz/backlog` says so",
        "seconds",
    )
    # Database limits: the web process's (Slack's three seconds), and everything else's.
    db_connect_timeout_s: int = whole(
        "REFLECT_DB_CONNECT_TIMEOUT_SECONDS",
        REQUEST_LIMITS.connect_timeout_s,
        "seconds to connect to PostgreSQL",
        "seconds",
    )
    db_statement_timeout_ms: int = whole(
        "REFLECT_DB_STATEMENT_TIMEOUT_MS",
        REQUEST_LIMITS.statement_timeout_ms,
        "milliseconds a statement may run",
        "milliseconds",
    )
    db_lock_timeout_ms: int = whole(
        "REFLECT_DB_LOCK_TIMEOUT_MS",
        REQUEST_LIMITS.lock_timeout_ms,
        "wait for a lock",
        "milliseconds",
    )
    db_idle_in_transaction_timeout_ms: int = whole(
        "REFLECT_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        REQUEST_LIMITS.idle_in_transaction_timeout_ms,
        "or sit idle in a transaction",
        "milliseconds",
    )
    db_batch_connect_timeout_s: int = whole(
        "REFLECT_DB_BATCH_CONNECT_TIMEOUT_SECONDS",
        BATCH_LIMITS.connect_timeout_s,
        "seconds to connect to PostgreSQL",
        "seconds",
    )
    db_batch_statement_timeout_ms: int = whole(
        "REFLECT_DB_BATCH_STATEMENT_TIMEOUT_MS",
        BATCH_LIMITS.statement_timeout_ms,
        "milliseconds a statement may run",
        "milliseconds",
    )
    db_batch_lock_timeout_ms: int = whole(
        "REFLECT_DB_BATCH_LOCK_TIMEOUT_MS",
        BATCH_LIMITS.lock_timeout_ms,
        "wait for a lock",
        "milliseconds",
    )
    db_batch_idle_in_transaction_timeout_ms: int = whole(
        "REFLECT_DB_BATCH_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        BATCH_LIMITS.idle_in_transaction_timeout_ms,
        "or sit idle in a transaction",
        "milliseconds",
    )
    # The clock (agencies can override the thresholds under `clock:` in the organisation file)
    long_open_days: int = whole(
        "REFLECT_LONG_OPEN_DAYS",
        Thresholds.long_open_days,
        "a case open this many days",
        "days",
        *THRESHOLD_LIMITS["long_open_days"],
    )
    long_open_repeat_days: int = whole(
        "REFLECT_LONG_OPEN_REPEAT_DAYS",
        Thresholds.long_open_repeat_days,
        "and with no reflection completed in this many is prompted, at most once in them",
        "days",
        *THRESHOLD_LIMITS["long_open_repeat_days"],
    )
    unfinished_hours: int = whole(
        "REFLECT_UNFINISHED_HOURS",
        Thresholds.unfinished_hours,
        "a reflection untouched this many hours is nudged",
        "hours",
        *THRESHOLD_LIMITS["unfinished_hours"],
    )
    lead_followup_working_days: int = whole(
        "REFLECT_LEAD_FOLLOWUP_WORKING_DAYS",
        Thresholds.lead_followup_working_days,
        "contact with the safeguarding lead unconfirmed this many working days is followed up",
        "working days",
        *THRESHOLD_LIMITS["lead_followup_working_days"],
    )
    workday_start: TimeOfDay = setting(
        "REFLECT_WORKDAY_START",
        time(9, 0),
        "working hours start",
        must="a time of day like 09:00",
        example="08:30",
        shown_default="09:00",
    )
    workday_end: TimeOfDay = setting(
        "REFLECT_WORKDAY_END",
        time(17, 0),
        "and end (prompts are sent only within them)",
        must="a time of day like 17:00, later than REFLECT_WORKDAY_START",
        example="17:30",
        shown_default="17:00",
    )
    clock_every_minutes: int = whole(
        "REFLECT_CLOCK_EVERY_MINUTES",
        ClockConfig.every_minutes,
        "minutes between its decisions",
        "minutes",
        1,
        60,
    )
    clock_lock_retry_seconds: float = setting(
        "REFLECT_CLOCK_LOCK_RETRY_SECONDS",
        ClockConfig.lock_retry_seconds,
        "seconds a second clock waits between tries for the lock",
        must="a number of seconds from 0.01 to 600",
        example="5",
        shown_default="5",
        ge=0.01,
        le=600,
        allow_inf_nan=False,
    )
    # Retention (SECURITY.md gives the reasoning for each default)
    retention_days: int = whole(
        "REFLECT_RETENTION_DAYS",
        RetentionPolicy.completed_days,
        "completed reflections",
        "days",
    )
    retention_unfinished_days: int = whole(
        "REFLECT_RETENTION_UNFINISHED_DAYS",
        RetentionPolicy.unfinished_days,
        "unfinished ones",
        "days",
    )
    retention_outbox_days: int = whole(
        "REFLECT_RETENTION_OUTBOX_DAYS",
        RetentionPolicy.outbox_days,
        "sent messages and handled answers",
        "days",
    )
    retention_event_days: int = whole(
        "REFLECT_RETENTION_EVENT_DAYS",
        RetentionPolicy.handled_key_days,
        "the record of handled Slack events",
        "days",
    )
    retention_audit_days: int = whole(
        "REFLECT_RETENTION_AUDIT_DAYS",
        RetentionPolicy.audit_days,
        "the audit trail (no answer text)",
        "days",
    )

    # The partnership report
    report_small_number: int = whole(
        "REFLECT_REPORT_SMALL_NUMBER",
        5,
        "the partnership report shows a count below this as 'fewer than N' (never below 3)",
        "reflections",
        3,
        1000,
    )

    # Not a setting: the web process uses request_limits (see for_requests).
    _serving_requests: bool = PrivateAttr(default=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Environment(settings_cls)

    # -------------------------------------------------------------- checks across values

    @model_validator(mode="after")
    def _check_working_day(self) -> Settings:
        if self.workday_end <= self.workday_start:
            raise _refusal(
                "REFLECT_WORKDAY_END",
                self.workday_end.strftime("%H:%M"),
                must="a time of day later than REFLECT_WORKDAY_START "
                f"({self.workday_start.strftime('%H:%M')})",
            )
        return self

    @model_validator(mode="after")
    def _check_teams(self) -> Settings:
        if self.teams_app_id is None:
            return self
        if self.teams_tenant_id is None:
            raise _refusal(
                "TEAMS_TENANT_ID", "", must="the tenant (directory) ID, set with TEAMS_APP_ID"
            )
        if self.teams_app_secret is None:
            raise _refusal("TEAMS_APP_SECRET", "", must="the app's secret, set with TEAMS_APP_ID")
        return self

    # -------------------------------------------------------------- what callers use

    def for_requests(self) -> Settings:
        """These settings for the web process, whose database work uses request_limits."""
        serving = self.model_copy()
        serving._serving_requests = True
        return serving

    @property
    def serving_requests(self) -> bool:
        return self._serving_requests

    @property
    def request_limits(self) -> Limits:
        return replace(
            REQUEST_LIMITS,
            connect_timeout_s=self.db_connect_timeout_s,
            statement_timeout_ms=self.db_statement_timeout_ms,
            lock_timeout_ms=self.db_lock_timeout_ms,
            idle_in_transaction_timeout_ms=self.db_idle_in_transaction_timeout_ms,
        )

    @property
    def batch_limits(self) -> Limits:
        return replace(
            BATCH_LIMITS,
            connect_timeout_s=self.db_batch_connect_timeout_s,
            statement_timeout_ms=self.db_batch_statement_timeout_ms,
            lock_timeout_ms=self.db_batch_lock_timeout_ms,
            idle_in_transaction_timeout_ms=self.db_batch_idle_in_transaction_timeout_ms,
        )

    @property
    def database_limits(self) -> Limits:
        return self.request_limits if self.serving_requests else self.batch_limits

    @property
    def clock(self) -> ClockConfig:
        return ClockConfig(
            thresholds=Thresholds(
                long_open_days=self.long_open_days,
                long_open_repeat_days=self.long_open_repeat_days,
                unfinished_hours=self.unfinished_hours,
                lead_followup_working_days=self.lead_followup_working_days,
            ),
            workday_start=self.workday_start,
            workday_end=self.workday_end,
            every_minutes=self.clock_every_minutes,
            lock_retry_seconds=self.clock_lock_retry_seconds,
        )

    @property
    def retention(self) -> RetentionPolicy:
        return RetentionPolicy(
            completed_days=self.retention_days,
            unfinished_days=self.retention_unfinished_days,
            outbox_days=self.retention_outbox_days,
            handled_key_days=self.retention_event_days,
            audit_days=self.retention_audit_days,
        )

    @property
    def teams_configured(self) -> bool:
        return self.teams_app_id is not None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_FIELD_OF = {str(field.validation_alias): name for name, field in Settings.model_fields.items()}
_VARIABLE_OF = {name: variable for variable, name in _FIELD_OF.items()}


def _refusal(variable: str, value: str, must: str) -> PydanticCustomError:
    """A problem found across fields, carried as an error that names its variable."""
    return PydanticCustomError(
        "setting", "{variable}: {must}", {"variable": variable, "value": value, "must": must}
    )


# ------------------------------------------------------------------ problems, for an operator


@dataclass(frozen=True)
class Problem:
    """One bad setting: the variable, its value as shown back, what it must be, an example."""

    variable: str
    value: str
    must: str
    example: str


def field_of(variable: str) -> FieldInfo:
    return Settings.model_fields[_FIELD_OF[variable]]


def problems(error: ValidationError) -> list[Problem]:
    """One Problem per bad variable, in the order Settings declares them."""
    found: dict[str, Problem] = {}
    for detail in error.errors():
        context = detail.get("ctx") or {}
        where = str(detail["loc"][0]) if detail["loc"] else ""
        variable = context.get("variable") or _VARIABLE_OF.get(where, where)
        if variable not in _FIELD_OF or variable in found:
            continue
        extra = field_of(variable).json_schema_extra
        assert isinstance(extra, dict)
        raw = context.get("value", detail.get("input"))
        found[variable] = Problem(
            variable=variable,
            value="(not shown)" if extra["secret"] else _shown(raw),
            must=str(context.get("must") or extra["must"]),
            example=str(extra["example"]),
        )
    order = list(_FIELD_OF)
    return sorted(found.values(), key=lambda problem: order.index(problem.variable))


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}…")


def variables() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, in the order Settings declares them."""
    rows = []
    for variable, name in _FIELD_OF.items():
        field = Settings.model_fields[name]
        extra = field.json_schema_extra
        assert isinstance(extra, dict)
        rows.append((variable, str(extra["shown_default"]), str(field.description)))
    return rows


# README.md's table puts related settings in one row: its first variable, the row's title, and
# how many settings (in Settings' order) the row holds.
GROUPS = {
    "DATABASE_URL": ("storage", 2),
    "SLACK_BOT_TOKEN": ("Slack, for `reflect serve`", 4),
    "TEAMS_APP_ID": ("Microsoft Teams, for `reflect serve` (docs/teams.md)", 6),
    "PORT": ("the web server", 7),
    "REFLECT_DB_CONNECT_TIMEOUT_SECONDS": ("the web process's database limits", 4),
    "REFLECT_DB_BATCH_CONNECT_TIMEOUT_SECONDS": ("the same, for commands and the clock", 4),
    "REFLECT_LONG_OPEN_DAYS": (
        "the clock's thresholds (an agency may set its own under `clock:`)",
        4,
    ),
    "REFLECT_WORKDAY_START": ("the clock", 4),
    "REFLECT_RETENTION_DAYS": ("days kept (SECURITY.md says why)", 5),
}


def readme_table() -> str:
    """The table in README.md's "Configuration" section (`python -m bot.settings` prints it)."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    settings = variables()
    while settings:
        title, size = GROUPS.get(settings[0][0], ("", 1))
        row, settings = settings[:size], settings[size:]
        names = ", ".join(f"`{variable}`" for variable, _, _ in row)
        defaults = ", ".join(_as_written(default) for _, default, _ in row)
        meaning = "; ".join(words for _, _, words in row)
        lines.append(f"| {names} | {defaults} | {f'{title}: ' if title else ''}{meaning} |")
    return "\n".join(lines)


def _as_written(default: str) -> str:
    """A value as code; words (none, a key file beside...) as they are."""
    return f"`{default}`" if any(c.isdigit() or c in ":/" for c in default) else default


if __name__ == "__main__":
    print(readme_table())
