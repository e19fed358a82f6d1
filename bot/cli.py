"""The `reflect` command. Each subcommand parses, calls the application, and prints a template."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bot import access, casework
from bot.admin.cases_import import BATCH_ROWS, CasesFileError, ImportInterrupted, import_cases
from bot.admin.organisation import (
    OrganisationFileError,
    UnreadableOrganisationFile,
    load_organisation,
)
from bot.bootstrap import Database, key_file_for, open_database
from bot.identity import is_person_id
from bot.protection.keys import replace_key_file, rotate_keys
from bot.render import export_markdown, local_time, renderer
from bot.report.cli import add_report_command
from bot.requests import Requests
from bot.retention import purge_expired
from bot.settings import Settings, SettingsError
from bot.settings import problems as settings_problems
from bot.teams.package import add_teams_command
from bot.terminal.conversation import DEMO_PRACTITIONER
from bot.terminal.demo import run_demo
from bot.terminal.history import show_history
from storage import audit, db, health, inbox, outbox
from storage.encryption import EncryptionKeyError, generate_key

Handler = Callable[[argparse.Namespace, Settings], int]
log = logging.getLogger("reflect")


def say(template: str, *, stream: object = None, **data: object) -> None:
    text = renderer("plain").render(f"cli/{template}.j2", **data)
    print(text, file=stream or sys.stdout)  # type: ignore[arg-type]


def write_new_file(path: Path, text: str, *, exists: str) -> bool:
    """Write ``text`` to a new file only its owner can read; never over an existing one (said
    with the template ``exists``). False, with the reason said, if it was not written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        say(exists, stream=sys.stderr, path=path)
        return False
    except OSError as exc:
        say("error", stream=sys.stderr, message=f"Could not write {path}: {exc.strerror}.")
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


def open_db(settings: Settings) -> Database:
    database = open_database(settings)
    if database.key_file_created:
        say("key_created", stream=sys.stderr, path=database.key_file)
    return database


def requests_for(settings: Settings, database: Database) -> Requests:
    """The request path for the terminal: replies are shown, not sent."""
    return Requests(database.new_session, timezone=settings.timezone, records=False)


# ------------------------------------------------------------------ commands


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    return run_demo(
        requests_for(settings, database),
        renderer("plain"),
        case_ref=args.case,
        practitioner_id=args.user,
        database_url=settings.database_url,
        lines=sys.stdin.buffer,
        out=sys.stdout,
        notes=sys.stderr,
    )


def administrator() -> str:
    """Who is at the terminal, for the audit trail."""
    try:
        return access.administrator(getpass.getuser())
    except (KeyError, OSError):
        return access.administrator("unknown")


def person_id(typed: str) -> str | None:
    """A Slack user ID as typed after --person, or None when it could not be one (so nothing
    typed in error, such as a name, is written to the audit trail)."""
    person = typed.strip().upper()
    return person if is_person_id(person) else None


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    summaries = casework.administrator_history(
        database.new_session,
        actor=administrator(),
        case_ref=args.case_ref,
        now=datetime.now(UTC),
    )
    show_history(
        renderer("plain"),
        case_ref=args.case_ref.strip().upper(),
        summaries=summaries,
        out=sys.stdout,
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings, migrate=False)
    db.upgrade(database.engine)
    say("db_upgraded", revision=db.current_revision(database.engine))
    return 0


def cmd_org_load(args: argparse.Namespace, settings: Settings) -> int:
    """Exits 2 if the file cannot be read as an organisation file, 1 if entries are wrong."""
    database = open_db(settings)
    try:
        result = load_organisation(args.file, database.new_session)
    except UnreadableOrganisationFile as exc:
        say("org_unreadable", stream=sys.stderr, path=args.file, problems=exc.problems)
        return 2
    except OrganisationFileError as exc:
        say("org_refused", stream=sys.stderr, path=args.file, problems=exc.problems)
        return 1
    say("org_loaded", agencies=result.agencies, people=result.people, leads=result.leads)
    return 0


def cmd_cases_import(args: argparse.Namespace, settings: Settings) -> int:
    """Exits 2 if the file cannot be imported at all or the database failed part-way, 1 if
    rows were left out, 130 if stopped with Ctrl-C (part-way: what was written stays)."""
    database = open_db(settings)
    service = requests_for(settings, database).service
    try:
        result = import_cases(
            args.file, database.new_session, today=service.today(), now=service.now
        )
    except CasesFileError as exc:
        say("cases_refused", stream=sys.stderr, path=args.file, reason=str(exc))
        return 2
    except ImportInterrupted as stop:
        say(
            "cases_interrupted",
            stream=sys.stderr,
            path=args.file,
            result=stop.done,
            total=stop.total,
            batch=BATCH_ROWS,
        )
        if isinstance(stop.__cause__, KeyboardInterrupt):
            return 130
        log.warning("cases import stopped by a database error: %s", stop.__cause__)
        return 2
    say("cases_imported", created=result.created, updated=result.updated, bad=result.bad)
    return 1 if result.bad else 0


def cmd_keys_generate(args: argparse.Namespace, settings: Settings) -> int:
    print(generate_key())
    say("keys_generated", stream=sys.stderr)
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.encryption_keys:
        say(
            "error",
            stream=sys.stderr,
            message="Set REFLECT_ENCRYPTION_KEY to NEWKEY,OLDKEY (the new key first) to rotate. "
            "Make a new key with `reflect keys generate`.",
        )
        return 2
    database = open_db(settings)
    report = rotate_keys(database.engine, settings.encryption_keys, batch_size=args.batch_size)
    key_file = key_file_for(settings.database_url)
    updated = None
    if not report.unreadable and key_file is not None and key_file.exists():
        replace_key_file(key_file, settings.encryption_keys[0])
        updated = key_file
    say("keys_rotated", report=report, key_file=updated)
    return 1 if report.unreadable else 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    since = (
        datetime.combine(args.since, time.min, tzinfo=settings.zone).astimezone(UTC)
        if args.since
        else None
    )
    with database.new_session() as session:
        rows = audit.entries(session=session, since=since, limit=args.limit)
    entries = [
        {
            "at": local_time(row.at, settings.timezone),
            "actor": row.actor,
            "action": row.action,
            "subject": row.subject,
            "detail": ", ".join(
                f"{k}={v}" for k, v in sorted(row.detail.items()) if not isinstance(v, dict)
            ),
        }
        for row in rows
    ]
    say(
        "audit",
        entries=entries,
        since=args.since.isoformat() if args.since else None,
        timezone=settings.timezone,
        limited=len(entries) >= args.limit,
    )
    return 0


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    kind, target = ("case", args.case) if args.case else ("person", args.person)
    what = (
        f"case {target.strip().upper()}" if kind == "case" else f"person {target.strip().upper()}"
    )
    if not args.yes:
        say("erase_confirm", stream=sys.stderr, what=what, kind=kind)
        return 1
    database = open_db(settings)
    now = datetime.now(UTC)
    if kind == "case":
        report = casework.erase_case(
            database.new_session, actor=administrator(), case_ref=target, now=now
        )
    else:
        report = casework.erase_person(
            database.new_session, actor=administrator(), person_id=person_id(target), now=now
        )
    say("erased", report=report, what=what, kind=kind)
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    out: Path | None = args.out
    if out is not None and out.exists():
        say("export_exists", stream=sys.stderr, path=out)
        return 1
    database = open_db(settings)
    export = casework.export_case(
        database.new_session, actor=administrator(), case_ref=args.case, now=datetime.now(UTC)
    )
    markdown = export_markdown(export, timezone=settings.timezone)
    if out is None:
        sys.stdout.write(markdown)
        return 0
    if not write_new_file(out, markdown, exists="export_exists"):
        return 1
    say("exported", stream=sys.stderr, path=out, count=export.summaries, case_ref=export.case_ref)
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    report = purge_expired(database.new_session, now=datetime.now(UTC), policy=settings.retention)
    say("purged", report=report)
    return 0


@dataclass(frozen=True)
class SetAside:
    """What the app set aside for an operator (answers it could not handle, messages Slack
    would not take): listed, and handed back, the same way."""

    name: str  # the command, the table and the audit's subject prefix
    listed: Callable[[Session], Sequence[Any]]
    put_back: Callable[[Session, list[int] | None, datetime], Sequence[Any]]
    detail: Callable[[Any], dict[str, str]]


SET_ASIDE = {
    "inbox": SetAside(
        "inbox",
        lambda session: inbox.set_aside_items(session=session),
        lambda session, ids, now: inbox.retry(session=session, item_ids=ids, now=now),
        lambda item: {"kind": item.kind, "last_error": item.last_error or ""},
    ),
    "outbox": SetAside(
        "outbox",
        lambda session: outbox.set_aside_messages(session=session),
        lambda session, ids, _now: outbox.retry(session=session, message_ids=ids),
        lambda message: {"surface": message.surface, "last_error": message.last_error or ""},
    ),
}


def cmd_set_aside_list(args: argparse.Namespace, settings: Settings) -> int:
    kind = SET_ASIDE[args.command]
    database = open_db(settings)
    with database.new_session() as session:
        found = kind.listed(session)
    say(f"{kind.name}_list", items=found, messages=found, zone=settings.zone)
    return 0


def cmd_set_aside_retry(args: argparse.Namespace, settings: Settings) -> int:
    kind = SET_ASIDE[args.command]
    if not args.all and not args.ids:
        say("error", stream=sys.stderr, message="Name the ones to retry, or say --all.")
        return 2
    database = open_db(settings)
    now = datetime.now(UTC)
    with db.transaction(database.new_session) as session:
        back = kind.put_back(session, None if args.all else args.ids, now)
        for entry in back:
            audit.record(
                session=session,
                actor=administrator(),
                action=f"{kind.name}_retry",
                subject=f"{kind.name}:{entry.id}",
                now=now,
                detail=kind.detail(entry),
            )
    missing = sorted(set(args.ids or ()) - {entry.id for entry in back})
    say(f"{kind.name}_retried", count=len(back), missing=missing)
    return 1 if missing else 0


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def cmd_clock(args: argparse.Namespace, settings: Settings) -> int:
    from bot.clock import cli as clock_cli  # the scheduler is only imported when it runs

    config = settings.clock
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
    from bot.serving.front_ends import sending_front_ends
    from bot.slack.directory import directory_for

    front_end = sending_front_ends(settings)
    directory = directory_for(settings)
    if args.once:
        return clock_cli.run_once(
            database,
            settings,
            config,
            at=at,
            wait=args.wait,
            front_end=front_end,
            directory=directory,
        )
    return clock_cli.run_forever(database, settings, config, front_end, directory)


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
        say("serving", stream=sys.stderr, mode="socket", port=None)
        server.serve_socket_mode(settings, options)
        return 0
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
        "--user",
        default=DEMO_PRACTITIONER,
        help="reflect as this person from the organisation file, with their profession's "
        f"question set (default {DEMO_PRACTITIONER})",
    )
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
    add_protection_commands(commands)
    add_set_aside_commands(commands)
    add_report_command(commands)
    add_teams_command(commands)

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


def add_set_aside_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`reflect inbox` and `reflect outbox`: what the app set aside, and handing it back."""
    texts = {
        "inbox": (
            "messages from practitioners that could not be handled",
            "List the messages and requests that could not be handled after every try and "
            "were set aside (what they said is not shown).",
            "Put set-aside items back to be handled, in order for each person; the running "
            "app takes them within seconds.",
            "item",
        ),
        "outbox": (
            "messages to Slack that could not be sent",
            "List the messages Slack refused, or that kept failing while Slack took other "
            "people's, and were set aside so each person's later messages could go on (what "
            "they say is not shown).",
            "Put set-aside messages back to be sent, each ahead of anything still unsent to the "
            "same person; the running app sends them within seconds. A message that may have "
            "arrived already is looked for first, so it is not shown twice.",
            "message",
        ),
    }
    for name, (about, list_text, retry_text, noun) in texts.items():
        box = commands.add_parser(name, help=about)
        actions = box.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)
        listing = actions.add_parser("list", help="list what was set aside", description=list_text)
        listing.set_defaults(handler=cmd_set_aside_list)
        retry = actions.add_parser(
            "retry", help=f"hand set-aside {noun}s back", description=retry_text
        )
        retry.add_argument("ids", nargs="*", type=positive, metavar="ID", help=f"{noun} numbers")
        retry.add_argument("--all", action="store_true", help=f"every set-aside {noun}")
        retry.set_defaults(handler=cmd_set_aside_retry)


def add_protection_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = commands.add_parser("keys", help="encryption keys for stored free text")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    generate = key_commands.add_parser(
        "generate",
        help="print a new encryption key",
        description="Print a new Fernet key for REFLECT_ENCRYPTION_KEY on standard output.",
    )
    generate.set_defaults(handler=cmd_keys_generate)
    rotate = key_commands.add_parser(
        "rotate",
        help="re-encrypt stored text under the first key in REFLECT_ENCRYPTION_KEY",
        description="Re-encrypt every stored answer, note, summary, action and queued message "
        "under the first key in REFLECT_ENCRYPTION_KEY=NEWKEY,OLDKEY, in batches. Safe to stop "
        "and run again; a second run changes nothing.",
    )
    rotate.add_argument("--batch-size", type=positive, default=500, help=argparse.SUPPRESS)
    rotate.set_defaults(handler=cmd_keys_rotate)

    audit_parser = commands.add_parser(
        "audit",
        help="list who viewed, exported, noted or erased what",
        description="List the audit trail, newest first: every view, export, note and erasure "
        "(and retention purges), with who, what and when in REFLECT_TIMEZONE. Never answer text.",
    )
    audit_parser.add_argument(
        "--since", type=iso_date, metavar="DATE", help="only entries on or after this date"
    )
    audit_parser.add_argument("--limit", type=positive, default=1000, help="at most this many")
    audit_parser.set_defaults(handler=cmd_audit)

    erase = commands.add_parser(
        "erase",
        help="permanently erase a case, or everything about a person",
        description="Permanently erase a case (--case) or what Reflect holds about a person "
        "(--person SLACKID): reflections, answers, plans, notes and messages. The audit trail "
        "keeps a row with counts only. Needs --yes.",
    )
    target = erase.add_mutually_exclusive_group(required=True)
    target.add_argument("--case", metavar="REF", help="the case reference")
    target.add_argument("--person", metavar="SLACKID", help="the person's Slack user ID")
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    erase.set_defaults(handler=cmd_erase)

    export = commands.add_parser(
        "export",
        help="write a case's summaries as Markdown for the case record",
        description="Write a case's completed summaries (and supervisor notes) as Markdown, for "
        "copying into the case record. Audited.",
    )
    export.add_argument("--case", metavar="REF", required=True, help="the case reference")
    export.add_argument(
        "--out", type=Path, metavar="FILE", help="write to a new file (mode 0600) not stdout"
    )
    export.set_defaults(handler=cmd_export)

    retention = commands.add_parser("retention", help="retention of stored records")
    retention_commands = retention.add_subparsers(
        dest="retention_command", metavar="ACTION", required=True
    )
    purge = retention_commands.add_parser(
        "purge",
        help="delete everything past its retention period now",
        description="Delete everything past its retention period (the clock does this daily). "
        "Periods come from REFLECT_RETENTION_DAYS and friends; see SECURITY.md.",
    )
    purge.set_defaults(handler=cmd_purge)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings()
    except ValidationError as refused:
        say("settings_refused", stream=sys.stderr, problems=settings_problems(refused))
        return 2
    try:
        return int(args.handler(args, settings))
    except (SettingsError, EncryptionKeyError) as exc:
        say("error", stream=sys.stderr, message=str(exc))
        return 2
    except OperationalError as exc:
        # What is wrong, in an operator's terms; never the error's text (it can hold values).
        diagnosis = health.diagnose(exc, health.sqlite_file(settings.database_url))
        fault = diagnosis.fault if diagnosis else health.Fault.UNREACHABLE
        detail = diagnosis.detail if diagnosis else health.UNREACHABLE_DETAIL
        say("database_error", stream=sys.stderr, fault=fault, detail=detail)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `reflect history X | head`); stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
