"""`reflect inbox` and `reflect outbox`: what the app set aside, and handing it back."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from bot.cli.arguments import positive
from bot.cli.context import administrator, open_db
from bot.cli.output import print_template
from bot.settings import Settings
from storage import audit, db, inbox, outbox


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
    print_template(f"{kind.name}_list", items=found, messages=found, zone=settings.zone)
    return 0


def cmd_set_aside_retry(args: argparse.Namespace, settings: Settings) -> int:
    kind = SET_ASIDE[args.command]
    if not args.all and not args.ids:
        print_template("error", stream=sys.stderr, message="Name the ones to retry, or say --all.")
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
    print_template(f"{kind.name}_retried", count=len(back), missing=missing)
    return 1 if missing else 0


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
