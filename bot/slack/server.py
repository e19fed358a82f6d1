"""`reflect serve`: the Bolt app on gunicorn (HTTP), or over Socket Mode.

Each gunicorn worker opens the database, builds the app and starts its delivery worker when it
loads, after the fork; nothing of that happens on import or in the master process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.middleware.authorization import SingleTeamAuthorization
from slack_sdk.web import WebClient

from bot.bootstrap import Database, open_database
from bot.dispatch import Dispatcher
from bot.protection.identifiers import IdentifierGuard
from bot.reflection.questions import default_question_set
from bot.render import renderer
from bot.settings import Settings, SettingsError
from bot.slack.app import build_app, make_client
from bot.slack.guard import GuardedRequestHandler, RequestGuard
from bot.slack.inbox import Inbox
from bot.slack.pacing import Answered, RequestsInHand
from bot.slack.worker import INTERVAL as RETRY_INTERVAL
from bot.slack.worker import DeliveryWorker
from storage.db import SessionFactory

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
DEFAULT_THREADS = 12
# Threads per process sending what requests and handlers record; each person's messages stay in
# order. A real Slack takes 100 ms or more over each message, and a sender waits that long, so
# enough of them to keep a team's next questions moving (see README, Performance).
DEFAULT_SENDERS = 16
DEFAULT_HANDLERS = 2

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class ServerOptions:
    port: int
    workers: int = 1
    threads: int = DEFAULT_THREADS
    senders: int = DEFAULT_SENDERS
    # Threads per process handling what requests stored (answers, /reflect) after the 200.
    handlers: int = DEFAULT_HANDLERS

    @classmethod
    def from_env(cls, port: int, env: dict[str, str] | None = None) -> ServerOptions:
        env = dict(os.environ) if env is None else env
        return cls(
            port=port,
            workers=_positive(env, "WEB_CONCURRENCY", 1),
            threads=_positive(env, "REFLECT_THREADS", DEFAULT_THREADS),
            senders=_positive(env, "REFLECT_SENDERS", DEFAULT_SENDERS),
            handlers=_positive(env, "REFLECT_HANDLERS", DEFAULT_HANDLERS),
        )


def _positive(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}={raw!r} must be a whole number of at least 1.")
    return int(raw)


def check_settings(settings: Settings) -> None:
    """Refuse to start without what Slack needs, saying which variable is missing."""
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


class ReflectWSGI:
    """POST /slack/events to Bolt; GET /healthz answers 200 when the database does."""

    def __init__(
        self,
        handler: SlackRequestHandler,
        database: Database,
        in_hand: RequestsInHand | None = None,
    ) -> None:
        self.handler = handler
        self.database = database
        self.in_hand = in_hand or RequestsInHand()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == EVENTS_PATH and method == "POST":
            self.in_hand.started()
            try:
                body = self.handler(environ, start_response)
            except BaseException:
                self.in_hand.finished()
                raise
            return Answered(body, self.in_hand.finished)
        if path == HEALTH_PATH and method in {"GET", "HEAD"}:
            healthy = self.database.ping()
            body = b"ok\n" if healthy else b"database unavailable\n"
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(
                status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            )
            return [body]
        body = b"not found\n"
        start_response(
            "404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]


@dataclass
class Background:
    """A process's work after Slack's 200: the inbox handles what requests stored, the
    dispatcher sends what handling recorded, and the worker retries what could not go out."""

    inbox: Inbox
    dispatcher: Dispatcher
    worker: DeliveryWorker

    @classmethod
    def make(
        cls,
        new_session: SessionFactory,
        client: WebClient,
        *,
        senders: int = DEFAULT_SENDERS,
        handlers: int = DEFAULT_HANDLERS,
        pace: Callable[[], None] = lambda: None,
        retry_interval: float = RETRY_INTERVAL,
    ) -> Background:
        worker = DeliveryWorker(new_session, client, interval=retry_interval)
        dispatcher = Dispatcher(
            new_session, client, senders=senders, wake_worker=worker.wake, pace=pace
        )
        # What the handlers record goes to the senders: a handler waiting for Slack's answer
        # (tens to hundreds of milliseconds from a real server) would hold up everyone's next
        # question behind it.
        inbox = Inbox(dispatcher.attach(new_session), threads=handlers, pace=pace)
        return cls(inbox, dispatcher, worker)

    def start(self) -> None:
        self.worker.start()
        self.inbox.start()

    def stop(self) -> None:
        self.inbox.stop()
        self.dispatcher.stop()
        self.worker.stop()


def build(
    settings: Settings, options: ServerOptions, pace: Callable[[], None] = lambda: None
) -> tuple[App, Background, Database]:
    database = open_database(settings)
    client = make_client(settings)
    background = Background.make(
        database.new_session,
        client,
        senders=options.senders,
        handlers=options.handlers,
        pace=pace,
    )
    app = build_app(
        settings,
        database,
        client=client,
        dispatcher=background.dispatcher,
        inbox=background.inbox,
        guard=IdentifierGuard(),
    )
    warm_up(app, database)
    background.start()
    return app, background, database


def warm_up(app: App, database: Database) -> None:
    """Do before the first request what the first requests would otherwise all do at once:
    read the question set, load the identifier checks' data, compile the templates, open a
    database connection, and ask Slack who the bot is (Bolt asks at the first request
    otherwise, once per request until an answer arrives)."""
    default_question_set()
    IdentifierGuard().screen("Seen at home on 1 December; call 020 7946 0000", options={})
    renderer("slack").compile_all(("slack/", "messages/"))
    database.ping()
    try:
        identity = app.client.auth_test()
    except Exception as exc:  # Slack unreachable now: Bolt asks at the first request instead
        log.warning("could not reach Slack at start: %s", type(exc).__name__)
        return
    # Bolt keeps the answer in its authorization middleware; it has no public setter.
    for middleware in getattr(app, "_middleware_list", []):
        if isinstance(middleware, SingleTeamAuthorization) and not middleware.auth_test_result:
            middleware.auth_test_result = identity


def load_wsgi(settings: Settings, options: ServerOptions) -> tuple[ReflectWSGI, Background]:
    """Everything one worker process needs; called after the fork."""
    in_hand = RequestsInHand()
    app, background, database = build(settings, options, pace=in_hand.wait_for_gap)
    guard = RequestGuard(app, settings.slack_signing_secret)
    handler = GuardedRequestHandler(app, guard, path=EVENTS_PATH)
    return ReflectWSGI(handler, database, in_hand), background


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
    """One Socket Mode connection; no public URL needed (Slack's own servers, so no /healthz)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app, background, _ = build(settings, options)
    try:
        SocketModeHandler(app, settings.slack_app_token).start()
    finally:
        background.stop()
