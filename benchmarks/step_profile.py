"""Where one answered step's time goes: SQL statements and transactions per step, and a CPU
profile of the whole server (request, handling, sending) over many steps.

    python -m benchmarks.step_profile                          # SQLite, 20 people, 8 answers
    python -m benchmarks.step_profile --database postgres --profile 30

The app runs in this process, built as `reflect serve` builds it (the inbox's handlers, the
senders, the delivery worker), against the benchmarks' fake Slack Web API; the signed requests
go straight to its WSGI callable, without gunicorn's HTTP. Each simulated practitioner types
/reflect, then answers "1" as soon as the next question reaches the fake Web API, as
benchmarks/latency.py's do.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine, event

from benchmarks.latency import (
    ANSWER_TIMEOUT,
    SECRET,
    TOKEN,
    Arrivals,
    command_body,
    drop_database,
    message_body,
    prepare_database,
    typed,
)
from tools import fake_slack

ENCRYPTION_KEY = "nF2PbLSjG9jh3ci4m7g1YOtZLkFUv4qg_mX2G8BKm3w="


class Statements:
    """Counts the SQL statements and commits every engine of this process runs."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.counting = False
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._commit)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.counting:
            with self.lock:
                self.kinds[_kind(statement)] += 1

    def _commit(self, _conn: Any) -> None:
        if self.counting:
            with self.lock:
                self.kinds["COMMIT"] += 1

    @property
    def total(self) -> int:
        return sum(n for kind, n in self.kinds.items() if kind != "COMMIT")


def _kind(statement: str) -> str:
    """The statement's verb and first table, e.g. "SELECT reflection"."""
    words = statement.split()
    verb = words[0].upper() if words else "?"
    table = ""
    for marker in ("FROM", "INTO", "UPDATE"):
        if marker in words:
            at = words.index(marker) + 1
            if at < len(words):
                table = words[at].strip('"(').split(".")[-1].strip('"')
                break
    return f"{verb} {table}".strip()


def environ(body: bytes, content_type: str) -> dict[str, Any]:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    return {
        "REQUEST_METHOD": "POST",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": "/slack/events",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "3000",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp,
        "HTTP_X_SLACK_SIGNATURE": signature,
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }


def call(app: Any, body: bytes, content_type: str) -> str:
    status: list[str] = []
    result = app(environ(body, content_type), lambda s, _h, _e=None: status.append(s))
    try:
        b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return status[0] if status else "?"


def practitioner(
    app: Any, user: str, answers: int, arrivals: Arrivals, failed: list[str], acks: list[float]
) -> None:
    steps = [(command_body(user, f"BEN-{user[-4:]}"), "application/x-www-form-urlencoded")]
    steps += [(message_body(user, text), "application/json") for text in typed(answers)]
    for body, content_type in steps:
        sent = time.monotonic()
        status = call(app, body, content_type)
        acks.append(time.monotonic() - sent)
        if not status.startswith("200"):
            failed.append(status)
            return
        if arrivals.first_after(user, sent, ANSWER_TIMEOUT) is None:
            failed.append("timeout")
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--answers", type=int, default=8)
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print the N costliest functions"
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="reflect-profile-"))
    fake, fake_port, arrival_queue = fake_slack.start_in_process(0.0)
    arrivals = Arrivals(arrival_queue)
    url = prepare_database(args.database, workdir)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "REFLECT_ENCRYPTION_KEY": ENCRYPTION_KEY,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": f"http://127.0.0.1:{fake_port}/api/",
        }
    )
    from bot.serving.server import ServerOptions, load_wsgi
    from bot.settings import Settings
    from storage import db

    settings = Settings()
    db.upgrade(db.make_engine(settings.database_url, settings.batch_limits))
    statements = Statements()
    app, background = load_wsgi(settings, ServerOptions.from_settings(settings, 3000))
    if background.startup is not None and not background.startup.wait(60):
        raise RuntimeError(f"the app did not start: {background.starting()}")
    try:
        users = [f"U0P{n:05d}" for n in range(args.people)]
        failed: list[str] = []
        acks: list[float] = []
        if args.profile:
            import yappi

            yappi.set_clock_type("cpu")
            yappi.start()
        statements.counting = True
        cpu = time.process_time()
        threads = [
            threading.Thread(
                target=practitioner, args=(app, u, args.answers, arrivals, failed, acks)
            )
            for u in users
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(0.3)  # the last marks of messages sent
        statements.counting = False
        cpu = time.process_time() - cpu
        steps = args.people * (args.answers + 1)
        print(
            f"{args.database}: {steps} steps ({args.people} people, /reflect and"
            f" {args.answers} answers each), {len(failed)} failed {sorted(set(failed))}"
        )
        print(
            f"statements per step {statements.total / steps:.1f}, commits per step"
            f" {statements.kinds['COMMIT'] / steps:.1f}, CPU per step {cpu / steps * 1000:.2f} ms"
            " (this process, with the driver)"
        )
        cuts = statistics.quantiles(acks, n=100, method="inclusive")
        print(
            f"acknowledgement (the WSGI call, in-process) p50 {cuts[49] * 1000:.1f} ms,"
            f" p99 {cuts[98] * 1000:.1f} ms"
        )
        for kind, count in statements.kinds.most_common():
            print(f"  {count / steps:6.2f}  {kind}")
        if args.profile:
            yappi.stop()
            _print_top(yappi.get_func_stats(), args.profile, steps)
    finally:
        background.stop()
        fake.terminate()
        drop_database(url)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _print_top(stats: Any, count: int, steps: int) -> None:
    stats.sort("ttot")
    print(f"\ncumulative CPU per step (ms), top {count}:")
    for stat in list(stats)[:count]:
        where = f"{Path(stat.module).name}:{stat.lineno} {stat.name}"
        print(f"  {stat.ttot / steps * 1000:7.3f} {stat.ncall / steps:7.1f}x  {where[:100]}")
    stats.sort("tsub")
    print(f"\nown CPU per step (ms), top {count}:")
    for stat in list(stats)[:count]:
        where = f"{Path(stat.module).name}:{stat.lineno} {stat.name}"
        print(f"  {stat.tsub / steps * 1000:7.3f} {stat.ncall / steps:7.1f}x  {where[:100]}")


if __name__ == "__main__":
    sys.exit(main())
