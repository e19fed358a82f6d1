"""`reflect clock`: the scheduler process, or every job once."""

from __future__ import annotations

import argparse
import logging
import sys

from bot.cli.context import open_db
from bot.cli.output import print_template
from bot.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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


def cmd_clock(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli import clock_runs  # the scheduler is only imported when it runs

    config = settings.clock
    if args.at is not None and not args.once:
        print_template("error", stream=sys.stderr, message="--at only works with --once.")
        return 2
    at = None
    if args.at is not None:
        at = clock_runs.parse_local_time(args.at, settings.zone)
        if at is None:
            print_template(
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
        return clock_runs.run_once(
            database,
            settings,
            config,
            at=at,
            wait=args.wait,
            front_end=front_end,
            directory=directory,
        )
    return clock_runs.run_forever(database, settings, config, front_end, directory)
