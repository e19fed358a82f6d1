"""`reflect keys`, `audit`, `erase`, `export` and `retention`: protecting what is stored."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, time
from pathlib import Path

from bot import casework
from bot.bootstrap import key_file_for
from bot.cli.arguments import iso_date, person_id, positive
from bot.cli.context import administrator, open_db
from bot.cli.output import print_template, write_new_file
from bot.protection.keys import replace_key_file, rotate_keys
from bot.render import export_markdown, local_time
from bot.retention import purge_expired
from bot.settings import Settings
from storage import audit
from storage.encryption import generate_key


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
        "(--person ID): reflections, answers, plans, notes and messages. The audit trail "
        "keeps a row with counts only. Needs --yes.",
    )
    target = erase.add_mutually_exclusive_group(required=True)
    target.add_argument("--case", metavar="REF", help="the case reference")
    target.add_argument("--person", metavar="ID", help="the person's Slack user ID or Teams ID")
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


def cmd_keys_generate(args: argparse.Namespace, settings: Settings) -> int:
    print(generate_key())
    print_template("keys_generated", stream=sys.stderr)
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.encryption_keys:
        print_template(
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
    print_template("keys_rotated", report=report, key_file=updated)
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
    print_template(
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
        print_template("erase_confirm", stream=sys.stderr, what=what, kind=kind)
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
    print_template("erased", report=report, what=what, kind=kind)
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    out: Path | None = args.out
    if out is not None and out.exists():
        print_template("export_exists", stream=sys.stderr, path=out)
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
    print_template(
        "exported", stream=sys.stderr, path=out, count=export.summaries, case_ref=export.case_ref
    )
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    report = purge_expired(database.new_session, now=datetime.now(UTC), policy=settings.retention)
    print_template("purged", report=report)
    return 0
