"""`reflect serve`: every configured front end in one process, on gunicorn (HTTP), or Slack
over Socket Mode.

Each gunicorn worker opens the database, builds the request path, the front ends and its
background work when it loads, after the fork; nothing of that happens on import or in the
master process. Slack's events arrive at /slack/events and Microsoft Teams' activities at
/api/messages; both go through the one request path (bot/requests/), and every message goes out
through the one delivery loop and its recipient's own front end (bot/messaging/frontends.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication

from bot.backlog import Backlog
from bot.bootstrap import Database, database_for, prepare
from bot.protection.identifiers import IdentifierGuard
from bot.reflection.questions import default_question_set
from bot.render import renderer
from bot.requests import Requests
from bot.serving.background import (
    DEFAULT_HANDLERS,
    DEFAULT_SENDERS,
    About,
    Background,
    HealthCheck,
    HealthChecks,
    handling_stuck_check,
)
from bot.serving.front_ends import (
    FrontEndsBuilt,
    build_front_ends,
    configured_platforms,
    dialect_for,
)
from bot.serving.pacing import Answered, RequestsInHand
from bot.settings import Settings, SettingsError
from storage import health

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
BACKLOG_PATH = "/healthz/backlog"
DEFAULT_THREADS = 12
# Platforms do not all read it; other callers may.
RETRY_AFTER_SECONDS = "5"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class ServerOptions:
    port: int
    workers: int = 1
    threads: int = DEFAULT_THREADS
    senders: int = DEFAULT_SENDERS
    # Threads per process handling what requests stored (answers, starts) after the platform's
    # acknowledgement.
    handlers: int = DEFAULT_HANDLERS

    @classmethod
    def from_settings(cls, settings: Settings, port: int) -> ServerOptions:
        return cls(
            port=port,
            workers=settings.web_concurrency,
            threads=settings.threads,
            senders=settings.senders,
            handlers=settings.handlers,
        )


def check_settings(settings: Settings) -> None:
    """Refuse to start with a front end half configured, or none, saying which variable is
    missing."""
    if settings.slack_bot_token or settings.slack_signing_secret or settings.slack_app_token:
        missing = []
        if not settings.slack_bot_token:
            missing.append("SLACK_BOT_TOKEN (the Bot User OAuth Token, xoxb-...)")
        if not settings.slack_app_token and not settings.slack_signing_secret:
            missing.append("SLACK_SIGNING_SECRET (Basic Information > App Credentials)")
        if missing:
            raise SettingsError(
                "Cannot start the Slack app: set "
                + " and ".join(missing)
                + '. See "Running Reflect in Slack" in README.md.'
            )
    if settings.slack_app_token and "teams" in configured_platforms(settings):
        raise SettingsError(
            "Cannot start: Microsoft Teams posts to Reflect over HTTP, and SLACK_APP_TOKEN runs "
            "Slack alone over Socket Mode. Unset SLACK_APP_TOKEN to serve Slack and Teams "
            "together over HTTP (see docs/teams.md)."
        )
    if not configured_platforms(settings):
        raise SettingsError(
            "Cannot start: no front end is configured. Set SLACK_BOT_TOKEN and "
            "SLACK_SIGNING_SECRET for Slack (see README.md), or the Microsoft Teams settings "
            "(see docs/teams.md)."
        )


PATHS = {"slack": "Slack requests at /slack/events", "teams": "Teams activities at /api/messages"}


def listening_paths(settings: Settings) -> list[str]:
    """What `reflect serve` says it listens for, platform by platform."""
    return [PATHS[name] for name in configured_platforms(settings)]


class ReflectWSGI:
    """POST to each front end's path (``endpoints``: /slack/events to Bolt, /api/messages to
    Teams); GET /healthz, this process's liveness: 200 when the database
    can be written and every extra check passes, 503 with the first problem otherwise, within
    a second; GET /healthz/backlog, the backlog alarm (bot/backlog.py): JSON naming the oldest
    answer and message waiting, 503 when one has waited too long.

    ``checks``: more for /healthz, run after the database's: callables returning None, or the
    problem in a few plain words. ``starting``: what start-up still waits for (None once it is
    done); until then the platforms' requests are answered 503, which they retry. A request
    that failed because the database could not be reached or written is answered 503, not a
    500, so its platform retries it later; what the request was storing was rolled back with
    its transaction."""

    def __init__(
        self,
        endpoints: Mapping[str, WSGIApp],
        database: Database,
        in_hand: RequestsInHand | None = None,
        checks: Sequence[HealthCheck] = (),
        *,
        starting: HealthCheck = lambda: None,
        backlog: Backlog | None = None,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.database = database
        self.in_hand = in_hand or RequestsInHand()
        self.health = HealthChecks([About("database", database.health), *checks])
        self.starting = starting
        self.backlog = backlog

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        endpoint = self.endpoints.get(path)
        if endpoint is not None and method == "POST":
            starting = self.starting()
            if starting is not None:
                headers = [("Retry-After", RETRY_AFTER_SECONDS)]
                return _plain(start_response, "503 Service Unavailable", starting, headers)
            self.in_hand.started()
            try:
                body = self._platform(endpoint, environ, start_response)
            except BaseException:
                self.in_hand.finished()
                raise
            return Answered(body, self.in_hand.finished)
        if path == HEALTH_PATH and method in {"GET", "HEAD"}:
            problem = self.health.problem()
            if problem is None:
                return _plain(start_response, "200 OK", "ok")
            return _plain(start_response, "503 Service Unavailable", f"unavailable: {problem}")
        if path == BACKLOG_PATH and method in {"GET", "HEAD"} and self.backlog is not None:
            return self._backlog(start_response)
        return _plain(start_response, "404 Not Found", "not found")

    def _backlog(self, start_response: StartResponse) -> Iterable[bytes]:
        assert self.backlog is not None
        try:
            ok, report = self.backlog.report()
        except Exception as error:  # the database is away: /healthz says so
            fault = health.diagnose(error)
            reason = fault.reason if fault else type(error).__name__
            ok, report = False, {"ok": False, "problems": [f"could not look: {reason}"]}
        body = (json.dumps(report) + "\n").encode()
        start_response(
            "200 OK" if ok else "503 Service Unavailable",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _platform(
        self, endpoint: WSGIApp, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        answer = _HeldResponse()
        health.forget_noted()
        body = endpoint(environ, answer.start_response)
        fault = health.noted()
        if fault is None or not answer.status.startswith("500"):
            start_response(answer.status, answer.headers)
            return body
        log.warning("a request was answered 503, for its platform to retry: %s", fault.log_line())
        close = getattr(body, "close", None)
        if close is not None:
            close()
        headers = [("Retry-After", RETRY_AFTER_SECONDS)]
        return _plain(start_response, "503 Service Unavailable", fault.reason, headers)


class _HeldResponse:
    """Keeps a front end's status and headers until ReflectWSGI has decided what to answer."""

    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        self.status, self.headers = status, headers
        return lambda _data: None


def _plain(
    start_response: StartResponse,
    status: str,
    text: str,
    headers: Sequence[tuple[str, str]] = (),
) -> list[bytes]:
    body = f"{text}\n".encode()
    start_response(
        status,
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


@dataclass
class Built:
    """One process's request path, front ends and background work."""

    requests: Requests
    front_ends: FrontEndsBuilt
    background: Background
    database: Database


def build(
    settings: Settings, options: ServerOptions, pace: Callable[[], None] = lambda: None
) -> Built:
    """The request path, every configured front end and their background work, without
    waiting for the database: that is checked, and the work started, in the background
    (Background.start_after), so a process starts whatever state the database is in."""
    database = database_for(settings)
    front_ends = build_front_ends(settings)
    background = Background.make(
        database.new_session,
        front_ends.sending,
        senders=options.senders,
        handlers=options.handlers,
        pace=pace,
    )
    background.backlog = Backlog(
        database.new_session,
        answer_seconds=settings.oldest_unhandled_seconds,
        message_seconds=settings.oldest_unsent_seconds,
        owner=background.liveness.id,
    )
    requests = Requests(
        database.new_session,
        timezone=settings.timezone,
        guard=IdentifierGuard(),
        delivery=background.delivery,
        wake=background.delivery.wake,
        report_small_number=settings.report_small_number,
        inbox=background.inbox,
    )
    front_ends.receive(database, requests)

    def ready() -> None:
        prepare(database, settings)
        warm_up(front_ends, database)

    background.start_after(ready, sqlite_path=health.sqlite_file(settings.database_url))
    return Built(requests, front_ends, background, database)


def warm_up(front_ends: FrontEndsBuilt, database: Database) -> None:
    """Do before the first request what the first requests would otherwise all do at once:
    read the question set, load the identifier checks' data, compile the templates, open a
    database connection, and let each front end make ready (Slack asks who the bot is)."""
    default_question_set()
    IdentifierGuard().screen("Seen at home on 1 December; call 020 7946 0000", options={})
    for platform in front_ends.platforms:
        renderer(dialect_for(platform)).compile_all((f"{platform}/", "messages/", "notices/"))
    database.ping()
    front_ends.warm_up()


def load_wsgi(settings: Settings, options: ServerOptions) -> tuple[ReflectWSGI, Background]:
    """Everything one worker process needs; called after the fork. Never waits for the
    database, so a worker always boots (see build)."""
    in_hand = RequestsInHand()
    built = build(settings.for_requests(), options, pace=in_hand.wait_for_gap)
    background = built.background
    checks: list[HealthCheck] = [
        About("start-up", background.problem),
        handling_stuck_check(background.inbox),
    ]
    wsgi = ReflectWSGI(
        built.front_ends.endpoints,
        built.database,
        in_hand,
        checks,
        starting=background.starting,
        backlog=background.backlog,
    )
    return wsgi, background


class ReflectServer(BaseApplication):  # type: ignore[misc]
    """Gunicorn run from Python: gthread workers, one process by default (WEB_CONCURRENCY)."""

    def __init__(self, settings: Settings, options: ServerOptions) -> None:
        self.settings = settings
        self.options = options
        self.delivery: Background | None = None
        super().__init__()

    def load_config(self) -> None:
        delivery_holder = self

        def worker_exit(_server: Any, _worker: Any) -> None:
            if delivery_holder.delivery is not None:
                delivery_holder.delivery.stop()

        config = {
            "bind": f"0.0.0.0:{self.options.port}",
            "workers": self.options.workers,
            "threads": self.options.threads,
            "worker_class": "gthread",
            "timeout": 30,
            "graceful_timeout": 10,
            "preload_app": False,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": "reflect-web",
            "worker_exit": worker_exit,
            # gunicorn 24+: no control socket in $HOME (nothing uses it; parallel runs clash).
            "control_socket_disable": True,
        }
        for key, value in config.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> ReflectWSGI:
        wsgi, self.delivery = load_wsgi(self.settings, self.options)
        return wsgi


def serve_http(settings: Settings, options: ServerOptions) -> None:
    ReflectServer(settings, options).run()


def serve_socket_mode(settings: Settings, options: ServerOptions) -> None:
    """Slack over one Socket Mode connection; no public URL needed (Slack's own servers, so no
    /healthz). Reconnects within seconds and stops cleanly on SIGTERM: bot/slack/socket_mode.py."""
    from bot.slack import socket_mode

    def built() -> socket_mode.Running:
        done = build(settings.for_requests(), options)
        app = done.front_ends.slack_app
        assert app is not None  # Socket Mode is chosen only when Slack is configured
        return socket_mode.Running(app, done.background, done.database)

    socket_mode.serve(settings, threads=options.threads, build=built)
