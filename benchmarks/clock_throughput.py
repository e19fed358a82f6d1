"""Clock throughput: `reflect clock --once` over 10k, 100k and 1M open cases, 1% of them due,
on PostgreSQL. Reports the wall time to decide what is due and record it for sending, the peak
memory of the clock process, and the queries it issued; then shows the plan of the search.

    python -m benchmarks.clock_throughput                 # 10k, 100k, 1M
    python -m benchmarks.clock_throughput --cases 10000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, event, text

from benchmarks.postgres import REPO, migrated_schema

AT_LOCAL = "2026-12-07T09:30"  # a Monday morning in working hours
DUE_OPENED = date(2026, 6, 1)  # more than 90 days before AT: due
FRESH_OPENED = date(2026, 10, 1)  # less than 90 days before AT: not due


def seed(url: str, cases: int) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                """
                INSERT INTO "case" (ref, practitioner_id, opened_on, created_at)
                SELECT 'BEN-' || g,
                       'U0B' || lpad((g % 5000)::text, 5, '0'),
                       CASE WHEN g % 100 = 0 THEN CAST(:due AS date) ELSE CAST(:fresh AS date) END,
                       now()
                FROM generate_series(1, :n) AS g
                """
            ),
            {"n": cases, "due": DUE_OPENED, "fresh": FRESH_OPENED},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text('ANALYZE "case"'))
    engine.dispose()


def worker() -> None:
    """Runs in a fresh process: one clock tick as of AT_LOCAL, without a Slack token."""
    from bot.bootstrap import open_database
    from bot.clock.scheduler import tick
    from bot.settings import Settings

    settings = Settings()
    database = open_database(settings)
    queries = 0

    @event.listens_for(database.engine, "before_cursor_execute")
    def count(*_: object) -> None:
        nonlocal queries
        queries += 1

    local = datetime.fromisoformat(AT_LOCAL).replace(tzinfo=settings.zone)
    at = local.astimezone(UTC)
    started = time.monotonic()
    outcome = tick(database, settings, settings.clock, now=lambda: at)
    seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak_mb,
                "queries": queries,
                "decided": outcome.jobs.total,
                "waiting": outcome.waiting,
            }
        )
    )


def explain(url: str) -> list[str]:
    from bot.config.clock import Thresholds
    from storage.clock import long_open_cases

    thresholds = Thresholds()
    at = datetime.fromisoformat(AT_LOCAL).replace(tzinfo=UTC)
    search = long_open_cases(
        opened_before=(at - timedelta(days=thresholds.long_open_days)).date(),
        quiet_since=at - timedelta(days=thresholds.long_open_repeat_days),
    )
    statement = search.statement.with_only_columns(search.id_column)
    engine = create_engine(url)
    with engine.connect() as connection:
        compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
        plan = connection.execute(text(f"EXPLAIN {compiled}")).scalars().all()
    engine.dispose()
    return list(plan)


def run(cases: int) -> dict[str, float]:
    with migrated_schema("clockbench") as (url, env):
        started = time.monotonic()
        seed(url, cases)
        seeded = time.monotonic() - started
        figures = run_tick(env)
        figures["rerun_seconds"] = run_tick(env)["seconds"]
        figures["seed_seconds"] = seeded
        if cases == max(ARGS.cases):
            print(f"\nPlan of the long-open search over {cases:,} cases:")
            for line in explain(url):
                print("   ", line)
            print()
        return figures


def run_tick(env: dict[str, str]) -> dict[str, Any]:
    """One `reflect clock --once` tick in a process of its own; its figures."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.clock_throughput", "--worker"],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    rows = [(n, run(n)) for n in ARGS.cases]
    print(
        f"{'open cases':>12}{'due':>8}{'decided':>9}{'seconds':>9}{'rerun s':>9}"
        f"{'peak MB':>9}{'queries':>9}"
    )
    for cases, f in rows:
        print(
            f"{cases:>12,}{cases // 100:>8,}{f['decided']:>9,}{f['seconds']:>9.2f}"
            f"{f['rerun_seconds']:>9.2f}{f['peak_mb']:>9.0f}{f['queries']:>9,}"
        )
    print(
        "(seconds: deciding what is due and recording it for sending; the rerun decides nothing"
        " new)"
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ARGS = parser.parse_args()
    if ARGS.worker:
        worker()
        sys.exit(0)
    sys.exit(main())
