"""`reflect serve`: the Slack app."""

from __future__ import annotations

import argparse
import contextlib
import sys

from sqlalchemy.exc import OperationalError

from bot.cli.context import open_db
from bot.cli.output import print_template
from bot.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = commands.add_parser(
        "serve",
        help="run the Slack app (HTTP on gunicorn, or Socket Mode with SLACK_APP_TOKEN)",
        description="Run the Slack app. Over HTTP, Slack sends every request to "
        "POST /slack/events and GET /healthz answers 200 while the database does. Needs "
        "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; with SLACK_APP_TOKEN set it runs in Socket "
        "Mode instead. WEB_CONCURRENCY (processes, default 1) and REFLECT_THREADS (threads per "
        "process, default 12) size the server.",
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port to listen on (default $PORT or 3000)"
    )
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.serving import server  # gunicorn and the platforms' SDKs load only for this command

    server.check_settings(settings)
    # Check the database (and migrate a fresh SQLite file) before any worker starts, within the
    # web process's limits. One that cannot be reached or written does not stop the server (the
    # engine has logged the fault): each worker starts, says 503 naming it, and tries again.
    with contextlib.suppress(OperationalError):
        open_db(settings.for_requests()).engine.dispose()
    options = server.ServerOptions.from_settings(settings, args.port or settings.port)
    if settings.slack_app_token:
        print_template("serving", stream=sys.stderr, mode="socket", port=None)
        server.serve_socket_mode(settings, options)
        return 0
    print_template(
        "serving",
        stream=sys.stderr,
        mode="http",
        port=options.port,
        paths=server.listening_paths(settings),
    )
    server.serve_http(settings, options)
    return 0
