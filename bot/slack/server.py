"""`reflect serve`: the Bolt app on gunicorn (HTTP), or over Socket Mode.

Each gunicorn worker opens the database, builds the app and starts its delivery worker when it
loads, after the fork; nothing of that happens on import or in the master process.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.middleware.authorization import SingleTeamAuthorization
from slack_sdk.web import WebClient

from bot.backlog import Backlog
from bot.bootstrap import Database, database_for, prepare
from bot.liveness import Liveness
from bot.messaging.delivery import INTERVAL as RETRY_INTERVAL
from bot.messaging.delivery import Delivery
from bot.messaging.inbox import Inbox
from bot.protection.identifiers import IdentifierGuard
from bot.reflection.questions import default_question_set
from bot.reflection.service import utcnow
from bot.render import renderer
from bot.settings import Settings, SettingsError
from bot.slack.app import build_app, make_client
from bot.slack.dialect import SLACK
from bot.slack.frontend import SlackFrontEnd
from bot.slack.guard import GuardedRequestHandler, RequestGuard
from bot.slack.pacing import Answered, RequestsInHand
from bot.startup import StartUp
from storage import health
from storage.db import SessionFactory

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
BACKLOG_PATH = "/healthz/backlog"
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
    def from_settings(cls, settings: Settings, port: int) -> ServerOptions:
        return cls(
            port=port,
            workers=settings.web_concurrency,
            threads=settings.threads,
            senders=settings.senders,
            handlers=settings.handlers,
        )


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


HealthCheck = Callable[[], str | None]
# /healthz answers within this, however the database behaves.
HEALTH_BUDGET_SECONDS = 0.8
# Far longer than any database or Web API timeout lets one answer's handling take.
STUCK_AFTER_SECONDS = 30.0
# Slack does not read it; other callers may.
RETRY_AFTER_SECONDS = "5"


@dataclass(frozen=True)
class About:
    """A health check and what it waits on, named in the 503 when it does not finish."""

    subject: str
    check: HealthCheck

    def __call__(self) -> str | None:
        return self.check()


class HealthChecks:
    """Runs the checks in order on a thread of its own, one run at a time, and reports the
    first problem; a run still going after ``budget`` seconds is a problem too (a database
    that does not answer). A caller arriving during a run waits for that run, so a stuck
    database never gathers more than one waiting thread."""

    def __init__(self, checks: Sequence[HealthCheck], budget: float = HEALTH_BUDGET_SECONDS):
        self.checks = list(checks)
        self.budget = budget
        self._lock = threading.Lock()
        self._run: _HealthRun | None = None

    def problem(self) -> str | None:
        with self._lock:
            if self._run is None or self._run.done.is_set():
                self._run = _HealthRun(self.checks)
            run = self._run
        if not run.done.wait(self.budget):
            return f"{run.waiting_on} did not answer within {self.budget:g} s"
        return run.problem


class _HealthRun:
    def __init__(self, checks: Sequence[HealthCheck]) -> None:
        self.done = threading.Event()
        self.problem: str | None = None
        self.waiting_on = "the health check"
        threading.Thread(
            target=self._go, args=(checks,), name="reflect-health", daemon=True
        ).start()

    def _go(self, checks: Sequence[HealthCheck]) -> None:
        try:
            for check in checks:
                self.waiting_on = getattr(check, "subject", "the health check")
                self.problem = check()
                if self.problem:
                    return
        except Exception as error:  # a check that fails is a problem, never a 500
            self.problem = f"health check failed ({type(error).__name__})"
        finally:
            self.done.set()


def handling_stuck_check(inbox: Inbox, stuck_after: float = STUCK_AFTER_SECONDS) -> HealthCheck:
    """A problem when this process has been handling one answer for longer than any of its
    timeouts allows: a handler thread is stuck, and the answers behind it wait."""

    def check() -> str | None:
        longest = inbox.longest_in_hand()
        if longest <= stuck_after:
            return None
        return f"answer handling stuck for {longest:.0f} s (over {stuck_after:g} s)"

    return About("answer handling", check)


class ReflectWSGI:
    """POST /slack/events to Bolt; GET /healthz, this process's liveness: 200 when the database
    can be written and every extra check passes, 503 with the first problem otherwise, within
    a second; GET /healthz/backlog, the backlog alarm (bot/backlog.py): JSON naming the oldest
    answer and message waiting, 503 when one has waited too long.

    ``checks``: more for /healthz, run after the database's: callables returning None, or the
    problem in a few plain words. ``starting``: what start-up still waits for (None once it is
    done); until then Slack's requests are answered 503, which Slack retries. A Slack request
    that failed because the database could not be reached or written is answered 503, not
    Bolt's 500, so Slack retries it later; what the request was storing was rolled back with
    its transaction."""

    def __init__(
        self,
        handler: SlackRequestHandler,
        database: Database,
        in_hand: RequestsInHand | None = None,
        checks: Sequence[HealthCheck] = (),
        *,
        starting: HealthCheck = lambda: None,
        backlog: Backlog | None = None,
    ) -> None:
        self.handler = handler
        self.database = database
        self.in_hand = in_hand or RequestsInHand()
        self.health = HealthChecks([About("database", database.health), *checks])
        self.starting = starting
        self.backlog = backlog

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == EVENTS_PATH and method == "POST":
            starting = self.starting()
            if starting is not None:
                headers = [("Retry-After", RETRY_AFTER_SECONDS)]
                return _plain(start_response, "503 Service Unavailable", starting, headers)
            self.in_hand.started()
            try:
                body = self._slack(environ, start_response)
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

    def _slack(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        answer = _HeldResponse()
        health.forget_noted()
        body = self.handler(environ, answer.start_response)
        fault = health.noted()
        if fault is None or not answer.status.startswith("500"):
            start_response(answer.status, answer.headers)
            return body
        log.warning("a Slack request was answered 503, for Slack to retry: %s", fault.log_line())
        close = getattr(body, "close", None)
        if close is not None:
            close()
        headers = [("Retry-After", RETRY_AFTER_SECONDS)]
        return _plain(start_response, "503 Service Unavailable", fault.reason, headers)


class _HeldResponse:
    """Keeps Bolt's status and headers until ReflectWSGI has decided what to answer."""

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
class Background:
    """A process's work after Slack's 200: the inbox handles what requests stored, and the
    delivery loop sends what handling recorded and retries what could not go out. Started by
    its StartUp once the database answers (see start_after)."""

    inbox: Inbox
    delivery: Delivery
    liveness: Liveness
    backlog: Backlog | None = None
    startup: StartUp | None = None

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
        liveness = Liveness(new_session, now=utcnow)
        # What the handlers record goes to the delivery's senders: a handler waiting for
        # Slack's answer (tens to hundreds of milliseconds from a real server) would hold up
        # everyone's next question behind it.
        delivery = Delivery(
            new_session,
            SlackFrontEnd(client),
            senders=senders,
            pace=pace,
            interval=retry_interval,
            owner=liveness.id,
        )
        inbox = Inbox(new_session, threads=handlers, pace=pace, owner=liveness.id)

        def take_over() -> None:  # a dead process's claims have just fallen due
            inbox.recover()
            delivery.wake()

        liveness.on_takeover = take_over
        return cls(inbox, delivery, liveness)

    def start(self) -> None:
        """Join the process table (taking over from any predecessor that died), then work."""
        self.delivery.start()
        self.inbox.start()
        self.liveness.start()
        if self.backlog is not None:
            self.backlog.start()

    def start_after(self, ready: Callable[[], None], *, sqlite_path: Path | None = None) -> StartUp:
        """Start in the background once ``ready`` succeeds, trying it again until it does."""
        self.startup = StartUp(ready, self.start, sqlite_path=sqlite_path)
        self.startup.start()
        return self.startup

    def starting(self) -> str | None:
        """What start-up still waits for; None once the work has started."""
        return None if self.startup is None else self.startup.problem()

    def problem(self) -> str | None:
        """Why this process cannot do its work: still starting, or a worker thread ended."""
        starting = self.starting()
        if starting is not None:
            return starting
        workers = {
            "delivery": self.delivery.running,
            "answer handling": self.inbox.running,
            "the process table": self.liveness.running,
        }
        stopped = [name for name, running in workers.items() if not running]
        return f"{', '.join(stopped)} stopped" if stopped else None

    def stop(self) -> None:
        """Finish what is in hand, then leave the process table, releasing any claims left."""
        if self.startup is not None:
            self.startup.stop()
        if self.backlog is not None:
            self.backlog.stop()
        self.inbox.stop()
        self.delivery.stop()
        self.liveness.stop()


def build(
    settings: Settings, options: ServerOptions, pace: Callable[[], None] = lambda: None
) -> tuple[App, Background, Database]:
    """The app and its background work, without waiting for the database: that is checked,
    and the work started, in the background (Background.start_after), so a process starts
    whatever state the database is in."""
    database = database_for(settings)
    client = make_client(settings)
    background = Background.make(
        database.new_session,
        client,
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
    app = build_app(
        settings,
        database,
        client=client,
        delivery=background.delivery,
        inbox=background.inbox,
        guard=IdentifierGuard(),
    )

    def ready() -> None:
        prepare(database, settings)
        warm_up(app, database)

    background.start_after(ready, sqlite_path=health.sqlite_file(settings.database_url))
    return app, background, database


def warm_up(app: App, database: Database) -> None:
    """Do before the first request what the first requests would otherwise all do at once:
    read the question set, load the identifier checks' data, compile the templates, open a
    database connection, and ask Slack who the bot is (Bolt asks at the first request
    otherwise, once per request until an answer arrives)."""
    default_question_set()
    IdentifierGuard().screen("Seen at home on 1 December; call 020 7946 0000", options={})
    renderer(SLACK).compile_all(("slack/", "messages/", "notices/"))
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
    """Everything one worker process needs; called after the fork. Never waits for the
    database, so a worker always boots (see build)."""
    in_hand = RequestsInHand()
    app, background, database = build(settings.for_requests(), options, pace=in_hand.wait_for_gap)
    guard = RequestGuard(app, settings.slack_signing_secret)
    handler = GuardedRequestHandler(app, guard, path=EVENTS_PATH)
    checks: list[HealthCheck] = [
        About("start-up", background.problem),
        handling_stuck_check(background.inbox),
    ]
    wsgi = ReflectWSGI(
        handler, database, in_hand, checks, starting=background.starting, backlog=background.backlog
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
    """One Socket Mode connection; no public URL needed (Slack's own servers, so no /healthz).
    Reconnects within seconds and stops cleanly on SIGTERM: bot/slack/socket_mode.py."""
    from bot.slack import socket_mode

    socket_mode.serve(settings, options)
