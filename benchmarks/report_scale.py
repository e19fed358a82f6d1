"""The partnership report over 100k and 1M reflections on PostgreSQL: wall time and peak memory of
`reflect report` (every query, the suppression and the HTML with its charts), in a process of its
own, so the figures show whether memory grows with the number of reflections.

    python -m benchmarks.report_scale                      # 100k, 1M
    python -m benchmarks.report_scale --reflections 100000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

from sqlalchemy import create_engine, text

from benchmarks.postgres import REPO, migrated_schema

AGENCIES = 8
SUPERVISORS = 200
PRACTITIONERS = 2000
PER_CASE = 4  # reflections per case, so repeats and the scale's trend are exercised
FIRST, LAST = "2026-09-01", "2026-11-30"

SEED = [
    """INSERT INTO agency (id, name, options)
       SELECT 'agency' || a, 'Agency ' || a, '{}' FROM generate_series(1, :agencies) AS a""",
    """INSERT INTO safeguarding_lead (agency_id, person_id)
       SELECT 'agency' || a, 'U0L' || lpad(a::text, 5, '0') FROM generate_series(1, :agencies) a""",
    """INSERT INTO person (person_id, agency_id, role)
       SELECT 'U0S' || lpad(s::text, 5, '0'), 'agency' || (s % :agencies + 1), 'supervisor'
       FROM generate_series(1, :supervisors) AS s""",
    """INSERT INTO person (person_id, agency_id, role, supervisor_id)
       SELECT 'U0P' || lpad(p::text, 5, '0'), 'agency' || (p % :supervisors % :agencies + 1),
              'practitioner', 'U0S' || lpad((p % :supervisors)::text, 5, '0')
       FROM generate_series(1, :practitioners) AS p""",
    """INSERT INTO "case" (id, ref, practitioner_id, opened_on, created_at)
       SELECT c, 'BEN-' || c, 'U0P' || lpad((c % :practitioners + 1)::text, 5, '0'),
              DATE '2026-06-01', now()
       FROM generate_series(1, :cases) AS c""",
    """INSERT INTO reflection (case_id, practitioner_id, status, current_question,
              question_set_version, started_at, updated_at, completed_at, is_repeat,
              rules_fired, themes_skipped, scale, minutes)
       SELECT c, 'U0P' || lpad((c % :practitioners + 1)::text, 5, '0'),
              CASE WHEN g % 20 = 0 THEN 'cancelled' WHEN g % 20 = 1 THEN 'paused'
                   ELSE 'completed' END,
              CASE WHEN g % 20 IN (0, 1) THEN 'scale' END,
              'bench', at, at, CASE WHEN g % 20 > 1 THEN at END, k > 0,
              CASE WHEN g % 20 > 1 THEN (ARRAY['child_not_seen_alone',
                   'child_not_seen_alone,drift_scale', 'disagreement_not_escalated',
                   'no_contingency,lead_not_consulted', NULL, 'drift_actions_carried',
                   'only_parent_heard,adult_not_met'])[g % 7 + 1] END,
              CASE WHEN g % 20 > 1 THEN (ARRAY['risks', 'history,identity', NULL, 'network',
                   'medical,uncertainty', NULL])[g % 6 + 1] END,
              CASE WHEN g % 20 > 1 THEN (g * 7 + k) % 11 END,
              CASE WHEN g % 20 > 1 THEN 8 + g % 30 END
       FROM (SELECT g, (g - 1) / :per_case + 1 AS c, (g - 1) % :per_case AS k,
                    TIMESTAMP '2026-09-01 08:00'
                    + ((g::bigint * 7919) % 7800) * INTERVAL '1 minute' * 11
                    + ((g - 1) % :per_case) * INTERVAL '1 day' AS at
             FROM generate_series(1, :reflections) AS g) AS s""",
    # One action in each completed reflection's plan; every fifth an escalation.
    """INSERT INTO action (reflection_id, position, status, kind)
       SELECT id, 1, 'complete', CASE WHEN id % 5 = 0 THEN 'escalation' END
       FROM reflection WHERE status = 'completed'""",
]


def seed(url: str, reflections: int) -> None:
    engine = create_engine(url)
    values = {
        "agencies": AGENCIES,
        "supervisors": SUPERVISORS,
        "practitioners": PRACTITIONERS,
        "cases": (reflections + PER_CASE - 1) // PER_CASE,
        "per_case": PER_CASE,
        "reflections": reflections,
    }
    with engine.begin() as connection:
        for statement in SEED:
            connection.execute(text(statement), values)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()


def worker() -> None:
    """Runs in a fresh process: the whole report, as `reflect report --format html` makes it."""
    from datetime import UTC, date, datetime

    from bot.bootstrap import open_database
    from bot.report import formats
    from bot.report.period import Period
    from bot.report.service import make_report
    from bot.settings import Settings

    settings = Settings()
    database = open_database(settings)
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    report = make_report(
        database.new_session,
        period=Period(date.fromisoformat(FIRST), date.fromisoformat(LAST)),
        zone=settings.zone,
        now=datetime(2026, 12, 3, 10, 0, tzinfo=UTC),
        threshold=settings.report_small_number,
    )
    counted = time.monotonic() - started
    page = formats.html(report)
    seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started_count = report.values[("reflections", "*", "*", "*", "started")]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "query_seconds": counted,
                "peak_mb": peak_mb,
                "start_mb": before_mb,
                "started": started_count,
                "html_kb": len(page) / 1024,
                "hidden": sum(report.hidden.values()),
            }
        )
    )


def run(reflections: int) -> dict[str, Any]:
    with migrated_schema("reportbench") as (url, env):
        started = time.monotonic()
        seed(url, reflections)
        seeded = time.monotonic() - started
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.report_scale", "--worker"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise SystemExit(result.stderr[-3000:])
        figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        figures["seed_seconds"] = seeded
        return figures


def main() -> int:
    rows = [(n, run(n)) for n in ARGS.reflections]
    print(
        f"{'reflections':>12}{'seed s':>8}{'report s':>10}{'queries s':>10}{'peak MB':>9}"
        f"{'hidden':>8}{'HTML KB':>9}"
    )
    for n, f in rows:
        print(
            f"{n:>12,}{f['seed_seconds']:>8.1f}{f['seconds']:>10.2f}{f['query_seconds']:>10.2f}"
            f"{f['peak_mb']:>9.0f}{f['hidden']:>8}{f['html_kb']:>9.0f}"
        )
    print("(report s: every query, the suppression and the HTML with its charts; peak MB: the")
    print(" report process's peak resident memory, imports included)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reflections", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ARGS = parser.parse_args()
    if ARGS.worker:
        worker()
        sys.exit(0)
    sys.exit(main())
