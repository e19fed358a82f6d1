"""`reflect report`: the partnership report on the server, to standard output or a new file."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from bot.cli.arguments import iso_date
from bot.cli.context import administrator, open_db
from bot.cli.output import print_template, write_new_file
from bot.report import formats
from bot.report.period import Period, PeriodError
from bot.report.service import UnknownAgency, make_report, record_run
from bot.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = commands.add_parser(
        "report",
        help="what reflections found, in aggregate, for the safeguarding partnership",
        description="Counts of what reflections found (themes skipped, flags raised, the scale, "
        "abandoned and repeat reflections), per agency and team, with small numbers hidden. "
        "Counts only: no case references, names or anything anyone wrote. The default period "
        "is the last full calendar month in REFLECT_TIMEZONE; counts under "
        "REFLECT_REPORT_SMALL_NUMBER (default 5, at least 3) are hidden. Audited.",
    )
    report.add_argument("--from", dest="first", type=iso_date, metavar="DATE", help="first day")
    report.add_argument("--to", dest="last", type=iso_date, metavar="DATE", help="last day")
    report.add_argument("--agency", metavar="ID", help="one agency, by its id in the org file")
    report.add_argument("--format", choices=formats.FORMATS, default="html", help="default html")
    report.add_argument(
        "--output", type=Path, metavar="FILE", help="write to a new file (mode 0600), not stdout"
    )
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """Exits 2 for a period or agency that cannot be reported on, 1 if --output exists."""
    out: Path | None = args.output
    if out is not None and out.exists():
        print_template("report_exists", stream=sys.stderr, path=out)
        return 1
    now = datetime.now(UTC)
    today: date = now.astimezone(settings.zone).date()
    try:
        period = Period.between(args.first, args.last, today=today)
    except PeriodError as exc:
        print_template("report_bad_period", stream=sys.stderr, reason=str(exc))
        return 2
    database = open_db(settings)
    try:
        report = make_report(
            database.new_session,
            period=period,
            zone=settings.zone,
            now=now,
            threshold=settings.report_small_number,
            agency_id=args.agency,
        )
    except UnknownAgency:
        print_template("report_bad_agency", stream=sys.stderr, agency=args.agency)
        return 2
    text = formats.render(report, args.format)
    record_run(
        database.new_session,
        actor=administrator(),
        period=period,
        agency_id=args.agency,
        form=args.format,
        now=now,
    )
    if out is None:
        sys.stdout.write(text)
        return 0
    if not write_new_file(out, text, exists="report_exists"):
        return 1
    print_template(
        "report_written", stream=sys.stderr, path=out, first=period.first, last=period.last
    )
    return 0
