"""The `reflect` command. Each subcommand parses, calls the application, and prints a template."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import OperationalError

from bot.admin.cases_import import CasesFileError, import_cases
from bot.admin.organisation import OrganisationFileError, load_organisation
from bot.bootstrap import Database, open_database
from bot.clock.config import ClockConfig
from bot.reflection.service import ReflectionService
from bot.render import renderer
from bot.settings import Settings, SettingsError
from bot.terminal import DEMO_PRACTITIONER, TerminalConversation
from storage import db
from storage.encryption import EncryptionKeyError

Handler = Callable[[argparse.Namespace, Settings], int]
log = logging.getLogger("reflect")


def say(template: str, *, stream: object = None, **data: object) -> None:
    text = renderer("plain").render(f"cli/{template}.j2", **data)
    print(text, file=stream or sys.stdout)  # type: ignore[arg-type]


def open_db(settings: Settings) -> Database:
    database = open_database(settings)
    if database.key_file_created:
        say("key_created", stream=sys.stderr, path=database.key_file)
    return database


def service_for(settings: Settings, database: Database) -> ReflectionService:
    return ReflectionService(database.new_session, timezone=settings.timezone)


# ------------------------------------------------------------------ commands


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    say("demo_intro", stream=sys.stderr, database=settings.database_url)
    conversation = TerminalConversation(
        service_for(settings, database), renderer("plain"), practitioner_id=args.user
    )
    return conversation.run(args.case, sys.stdin.buffer)


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    summaries = service_for(settings, database).history(case_ref=args.case_ref)
    say("history", case_ref=args.case_ref.strip().upper(), summaries=summaries)
    plain = renderer("plain")
    for summary in summaries:
        print(plain.render("messages/summary.j2", summary=summary, audience="record"))
        print()
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings, migrate=False)
    db.upgrade(database.engine)
    say("db_upgraded", revision=db.current_revision(database.engine))
    return 0


def cmd_org_load(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    try:
        result = load_organisation(args.file, database.new_session)
    except FileNotFoundError:
        say("error", stream=sys.stderr, message=f"{args.file} does not exist.")
        return 1
    except OrganisationFileError as exc:
        say("org_refused", stream=sys.stderr, path=args.file, problems=exc.problems)
        return 1
    say("org_loaded", agencies=result.agencies, people=result.people, leads=result.leads)
    return 0


def cmd_cases_import(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    service = service_for(settings, database)
    try:
        result = import_cases(
            args.file, database.new_session, today=service.today(), now=service.now
        )
    except CasesFileError as exc:
        say("error", stream=sys.stderr, message=str(exc))
        return 1
    say("cases_imported", created=result.created, updated=result.updated, bad=result.bad)
    return 1 if result.bad else 0


def cmd_clock(args: argparse.Namespace, settings: Settings) -> int:
    from bot.clock import cli as clock_cli  # the scheduler is only imported when it runs

    config = ClockConfig.from_env()
    if args.at is not None and not args.once:
        say("error", stream=sys.stderr, message="--at only works with --once.")
        return 2
    at = None
    if args.at is not None:
        at = clock_cli.parse_local_time(args.at, settings.zone)
        if at is None:
            say(
                "error",
                stream=sys.stderr,
                message=f"--at {args.at!r} is not a local time like 2026-12-07T09:30.",
            )
            return 2
    logging.getLogger("bot").setLevel(logging.INFO)
    database = open_db(settings)
    if args.once:
        return clock_cli.run_once(database, settings, config, at=at, wait=args.wait)
    return clock_cli.run_forever(database, settings, config)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.slack import server  # gunicorn and Bolt load only for this command

    server.check_settings(settings)
    # Check the database (and migrate a fresh SQLite file) before any worker starts.
    open_db(settings).engine.dispose()
    if settings.slack_app_token:
        say("serving", stream=sys.stderr, mode="socket", port=None)
        server.serve_socket_mode(settings)
        return 0
    options = server.ServerOptions.from_env(args.port or settings.port)
    say("serving", stream=sys.stderr, mode="http", port=options.port)
    server.serve_http(settings, options)
    return 0


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reflect",
        description="Reflect: structured reflection before a home visit, for child safeguarding "
        "practitioners. Configure with DATABASE_URL (default sqlite:///reflect.db).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="run a whole reflection in the terminal",
        description="Run a whole reflection in the terminal. Answers are read line by line from "
        "standard input, so they can be piped; if input ends part-way, progress is kept and "
        "running the same command again resumes it.",
    )
    demo.add_argument("--case", default="DEMO-001", help="case reference (default DEMO-001)")
    demo.add_argument(
        "--user", default=DEMO_PRACTITIONER, help=argparse.SUPPRESS
    )  # for trying the organisation's supervisors and leads from the terminal
    demo.set_defaults(handler=cmd_demo)

    history = commands.add_parser(
        "history",
        help="print the stored summaries of a case, newest first",
        description="Print the stored summaries of a case, newest first.",
    )
    history.add_argument("case_ref", metavar="CASE-REF")
    history.set_defaults(handler=cmd_history)

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

    database = commands.add_parser("db", help="database administration")
    db_commands = database.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply Alembic migrations up to the latest schema",
        description="Apply Alembic migrations up to the latest schema (the release step).",
    )
    upgrade.set_defaults(handler=cmd_db_upgrade)

    org = commands.add_parser("org", help="the organisation: agencies, leads, people")
    org_commands = org.add_subparsers(dest="org_command", metavar="ACTION", required=True)
    load = org_commands.add_parser(
        "load",
        help="replace the organisation from a YAML file",
        description="Replace the organisation (agencies, safeguarding leads, people and "
        "supervisors) from a YAML file, in one transaction. A file with any problem is refused "
        "with the line and field at fault, and nothing changes.",
    )
    load.add_argument("file", type=Path, metavar="FILE.yaml")
    load.set_defaults(handler=cmd_org_load)

    cases = commands.add_parser("cases", help="the list of open cases")
    case_commands = cases.add_subparsers(dest="cases_command", metavar="ACTION", required=True)
    imp = case_commands.add_parser(
        "import",
        help="add or update cases from a CSV file",
        description="Add or update cases from a CSV file with the columns "
        "case_ref,practitioner,opened_on (and optionally closed_on). practitioner is a Slack "
        "user ID or an e-mail address; dates are ISO (2026-09-01). Bad rows are reported by "
        "line; good rows are imported.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.set_defaults(handler=cmd_cases_import)

    clock = commands.add_parser(
        "clock",
        help="run the scheduler: long-open case prompts, reminders, weekly digests",
        description="Run the clock: every few minutes it decides which prompts, reminders and "
        "digests are due, records each exactly once, and sends them in working hours "
        "(Monday to Friday, 09:00 to 17:00 in REFLECT_TIMEZONE, not on bank holidays). Only "
        "one clock acts at a time; another waits. With --once it runs every job once and exits.",
    )
    clock.add_argument(
        "--once", action="store_true", help="run every job once, deliver if possible, and exit"
    )
    clock.add_argument(
        "--at",
        metavar="YYYY-MM-DDTHH:MM",
        help="with --once: act as of this local time in REFLECT_TIMEZONE (default: now)",
    )
    clock.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with --once: how long to wait for another running clock (default 60)",
    )
    clock.set_defaults(handler=cmd_clock)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env()
        return int(args.handler(args, settings))
    except (SettingsError, EncryptionKeyError) as exc:
        say("error", stream=sys.stderr, message=str(exc))
        return 2
    except OperationalError as exc:
        log.debug("database error", exc_info=exc)
        say(
            "error",
            stream=sys.stderr,
            message="Could not reach the database. Check DATABASE_URL and that the server is up.",
        )
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
