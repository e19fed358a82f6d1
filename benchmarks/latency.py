"""Acknowledgement and next-question latency of `reflect serve`, before and after a change, side
by side with a bare Bolt app, in one run.

    python -m benchmarks.latency                       # 40 and 200 practitioners, both databases
    python -m benchmarks.latency --before main         # "before" is another commit
    python -m benchmarks.latency --concurrency 40 --databases sqlite --answers 5 --no-before
    python -m benchmarks.latency --slack-latency 100   # Slack taking 100 ms over each call

"now" is this working tree; "before" is a commit (``--before``, 32d4111 unless told) checked
out into a temporary git worktree and served from there, in its own process, in the same
interleaved runs. Each simulated practitioner types /reflect, then answers like a person: sends
an answer, waits until the next question reaches the (fake, loopback) Slack Web API, sends the
next. Prints a table of p50/p99, CPU and SQL per step and the ratios to the bare app; writes a
chart of p99 against concurrency.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from tools import fake_slack

REPO = Path(__file__).resolve().parents[1]
SECRET = "benchmark-signing-secret"
TOKEN = "xoxb-benchmark"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
ANSWER_TIMEOUT = 30.0
# The commit served as "before" unless told otherwise: the landing before the step was cut to
# one transaction.
BEFORE = "32d4111"
# Put first on a served Reflect's PYTHONPATH: counts its SQL (benchmarks/sql_counting).
SQL_COUNTING = Path(__file__).resolve().parent / "sql_counting"
OWN = {"DATABASE_URL", "REFLECT_ENCRYPTION_KEY", "REFLECT_KEY_FILE"}


@dataclass
class Samples:
    ack: list[float] = field(default_factory=list)
    next_question: list[float] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0
    warnings: Counter[str] = field(default_factory=Counter)  # the server's, by message
    server_cpu: float = float("nan")  # seconds of CPU the server's processes used meanwhile
    statements: int = 0  # SQL statements the server's processes ran meanwhile
    transactions: int = 0  # and transactions they began (reads too)


@dataclass(frozen=True)
class Summary:
    """One configuration over its runs: the median of each run's figure."""

    ack_p50: float
    ack_p99: float
    next_p50: float
    next_p99: float
    cpu_per_step: float
    statements_per_step: float
    transactions_per_step: float
    failures: int
    runs: int

    @classmethod
    def of(cls, runs: list[Samples]) -> Summary:
        def median(figure: Callable[[Samples], float]) -> float:
            return statistics.median(figure(r) for r in runs)

        return cls(
            ack_p50=median(lambda r: percentile(r.ack, 50)),
            ack_p99=median(lambda r: percentile(r.ack, 99)),
            next_p50=median(lambda r: percentile(r.next_question, 50)),
            next_p99=median(lambda r: percentile(r.next_question, 99)),
            cpu_per_step=median(lambda r: r.server_cpu / max(len(r.ack), 1)),
            statements_per_step=median(lambda r: r.statements / max(len(r.ack), 1)),
            transactions_per_step=median(lambda r: r.transactions / max(len(r.ack), 1)),
            failures=sum(r.errors + r.timeouts for r in runs),
            runs=len(runs),
        )


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of a process and its descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        used[child] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {pid}, True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    return sum(used.get(p, 0.0) for p in tree)


class Arrivals:
    """Times at which messages reached the fake Web API, per recipient."""

    def __init__(self, source: queue.Queue) -> None:
        self.source = source
        self.times: dict[str, list[float]] = defaultdict(list)
        self.changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            recipient, at = self.source.get()
            with self.changed:
                self.times[recipient].append(at)
                self.changed.notify_all()

    def first_after(self, recipient: str, since: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                later = [t for t in self.times.get(recipient, ()) if t >= since]
                if later:
                    return min(later)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.changed.wait(remaining)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(port: int, body: bytes, content_type: str) -> int:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
            timestamp=timestamp, body=body
        ),
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_TIMEOUT)
    try:
        connection.request("POST", "/slack/events", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def command_body(user: str, case_ref: str) -> bytes:
    return urlencode(
        {
            "command": "/reflect",
            "text": case_ref,
            "user_id": user,
            "user_name": "bench",
            "channel_id": f"D{user[1:]}",
            "team_id": "T0BENCH",
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": uuid.uuid4().hex,
            "api_app_id": "A0BENCH",
        }
    ).encode()


def message_body(user: str, text: str) -> bytes:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0BENCH",
            "api_app_id": "A0BENCH",
            "event_id": f"Ev{uuid.uuid4().hex[:16].upper()}",
            "event_time": int(time.time()),
            "event": {
                "type": "message",
                "channel_type": "im",
                "channel": f"D{user[1:]}",
                "user": user,
                "text": text,
                "ts": f"{time.time():.6f}",
            },
        }
    ).encode()


def typed(answers: int) -> list[str]:
    """What each practitioner types: "No" to the first question (no child is unsafe today, in
    the question set that asks that first; words for what the visit is for, in the one before),
    then "1" (the first choice, or words) to each after, so every answer moves the reflection
    on to its next question in both."""
    return ["No", *["1"] * (answers - 1)][:answers]


def practitioner(port: int, user: str, answers: int, arrivals: Arrivals, samples: Samples) -> None:
    steps = [(command_body(user, f"BEN-{user[-4:]}"), "application/x-www-form-urlencoded")]
    steps += [(message_body(user, text), "application/json") for text in typed(answers)]
    for body, content_type in steps:
        sent = time.monotonic()
        try:
            status = post(port, body, content_type)
        except OSError:
            samples.errors += 1
            return
        acked = time.monotonic()
        if status != 200:
            samples.errors += 1
            return
        samples.ack.append(acked - sent)
        arrived = arrivals.first_after(user, sent, ANSWER_TIMEOUT)
        if arrived is None:
            samples.timeouts += 1
            return
        samples.next_question.append(arrived - sent)


def start_serving(
    app: str, env: dict[str, str], workdir: Path, tries: int = 3
) -> tuple[subprocess.Popen, int]:
    """The server, serving, and its port. The machine is shared: the free port found may be
    taken before the server binds it, and the server then exits; it is tried on another."""
    for attempt in range(tries):
        port = free_port()
        server = start_server(app, port, env, workdir)
        try:
            wait_until_serving(port, server, 404 if app == "baseline" else 200)
            return server, port
        except RuntimeError:
            server.terminate()
            server.wait(timeout=15)
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def wait_until_serving(
    port: int, process: subprocess.Popen, serving: int = 200, timeout: float = 60
) -> None:
    """Until the app says it is serving: gunicorn listens before its worker has loaded the app,
    and the worker starts its work in the background; requests sent in that moment would
    measure the worker starting, not the app."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            # Reflect answers 503 until its start-up work is done (bot/startup.py); the bare
            # app has no /healthz and answers 404. Anything else is not the server started.
            if response.status == serving:
                return
            time.sleep(0.1)
        except OSError:
            time.sleep(0.1)
        finally:
            connection.close()
    raise RuntimeError("server did not start")


def prepare_database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    subprocess.run(
        ["psql", POSTGRES, "-qc", f'CREATE SCHEMA "{schema}"'], check=True, capture_output=True
    )
    return f"{POSTGRES}?options=-csearch_path%3D{schema}"


def drop_database(url: str) -> None:
    if "search_path" in url:
        schema = url.rsplit("%3D", 1)[1]
        subprocess.run(["psql", POSTGRES, "-qc", f'DROP SCHEMA "{schema}" CASCADE'], check=False)


def start_server(app: str, port: int, env: dict[str, str], workdir: Path) -> subprocess.Popen:
    bin_dir = Path(sys.executable).parent
    if app == "baseline":
        command = [
            str(bin_dir / "gunicorn"),
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            "8",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "benchmarks.baseline_app:flask_app",
        ]
    else:
        subprocess.run(
            [str(bin_dir / "reflect"), "db", "upgrade"],
            env=env,
            check=True,
            capture_output=True,
            cwd=workdir,
        )
        command = [str(bin_dir / "reflect"), "serve", "--port", str(port)]
    return subprocess.Popen(
        command,
        env=env,
        cwd=REPO if app == "baseline" else workdir,
        stdout=subprocess.DEVNULL,
        # A file, not a pipe nobody reads: a full pipe would stall every thread that logs.
        stderr=(workdir / "server.log").open("wb"),
    )


def run_one(
    app: str,
    database: str,
    concurrency: int,
    answers: int,
    slack_latency: float = 0.0,
    source: Path = REPO,
) -> Samples:
    """One run; ``source``: the checkout whose Reflect is served (another, to compare)."""
    workdir = Path(tempfile.mkdtemp(prefix="reflect-bench-"))
    fake, fake_port, arrival_queue = fake_slack.start_in_process(slack_latency)
    arrivals = Arrivals(arrival_queue)
    url = prepare_database(database, workdir) if app == "reflect" else ""
    env = {
        # The server's tuning (WEB_CONCURRENCY, REFLECT_THREADS, ...) comes from the caller.
        **{k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k not in OWN},
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"http://127.0.0.1:{fake_port}/api/",
        "PYTHONPATH": str(source),
    }
    counts = workdir / "sql-counts"
    if url:
        env["DATABASE_URL"] = url
        env["REFLECT_ENCRYPTION_KEY"] = "nF2PbLSjG9jh3ci4m7g1YOtZLkFUv4qg_mX2G8BKm3w="
        counts.mkdir()
        env["PYTHONPATH"] = f"{SQL_COUNTING}{os.pathsep}{source}"
        env["REFLECT_BENCH_SQL_COUNTS"] = str(counts)
    samples = Samples()
    server, port = start_serving(app, env, workdir)
    try:
        sql_before = sql_counts(counts)
        cpu_before = server_cpu_seconds(server.pid)
        users = [f"U0B{n:05d}" for n in range(concurrency)]
        threads = [
            threading.Thread(target=practitioner, args=(port, u, answers, arrivals, samples))
            for u in users
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        samples.server_cpu = server_cpu_seconds(server.pid) - cpu_before
        if url:
            time.sleep(SETTLE_SECONDS)  # the last sends' marks, and the counts written
            sql_after = sql_counts(counts)
            samples.statements = sql_after[0] - sql_before[0]
            samples.transactions = sql_after[1] - sql_before[1]
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        fake.terminate()
        samples.warnings = logged_problems(workdir / "server.log")
        if url:
            drop_database(url)
        shutil.rmtree(workdir, ignore_errors=True)
    return samples


# Long enough for the served process to write its SQL counts (benchmarks/sql_counting).
SETTLE_SECONDS = 0.6


def sql_counts(directory: Path) -> tuple[int, int]:
    """Statements and transactions so far, over the served processes' files."""
    if not directory.is_dir():
        return 0, 0
    time.sleep(SETTLE_SECONDS)
    statements = transactions = 0
    for path in directory.glob("*.json"):
        counted = json.loads(path.read_text())
        statements += counted["statements"]
        transactions += counted["transactions"]
    return statements, transactions


class BeforeCheckout:
    """A commit checked out into a temporary git worktree, removed again afterwards."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.path = Path(tempfile.mkdtemp(prefix="reflect-before-")) / "checkout"

    def __enter__(self) -> Path:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(self.path), self.ref],
            check=True,
            capture_output=True,
        )
        return self.path

    def __exit__(self, *_: object) -> None:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(self.path)],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.path.parent, ignore_errors=True)


def logged_problems(log: Path) -> Counter[str]:
    """The server's warnings and errors, counted by message (numbers left out)."""
    found: Counter[str] = Counter()
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return found
    for line in lines:
        for level in ("WARNING", "ERROR", "CRITICAL"):
            if level in line:
                message = line.split(level, 1)[1]
                found[level + " " + "".join("#" if c.isdigit() else c for c in message)[:100]] += 1
    return found


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


# The targets, against the bare Bolt app in the same run: the acknowledgement's p99, the next
# question's p99 and the CPU per step, each at most this many times the bare app's.
ACK_RATIO, NEXT_RATIO, CPU_RATIO = 1.5, 2.0, 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[40, 200])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--answers", type=int, default=8, help="answers per practitioner")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per configuration (medians are shown)"
    )
    parser.add_argument(
        "--slack-latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="milliseconds the fake Web API takes over each call, as a far-away Slack does",
    )
    parser.add_argument(
        "--before",
        default=BEFORE,
        metavar="REF",
        help=f"the commit served as 'before', from a temporary git worktree (default {BEFORE})",
    )
    parser.add_argument(
        "--no-before", action="store_true", help="serve only this working tree, no 'before'"
    )
    parser.add_argument(
        "--compare-with",
        type=Path,
        metavar="CHECKOUT",
        help="serve 'before' from this checkout instead of checking out --before",
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=CHECKOUT",
        help="also serve another checkout, shown as NAME (a change not yet merged, say)",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        help="where to write the chart (docs/latency.png, or docs/latency-slack-MSms.png)",
    )
    args = parser.parse_args(argv)
    if args.no_before:
        return measure(args, None, "")
    if args.compare_with:
        return measure(args, args.compare_with.resolve(), args.compare_with.name)
    with BeforeCheckout(args.before) as checkout:
        return measure(args, checkout, args.before)


def measure(args: argparse.Namespace, before: Path | None, before_name: str) -> int:
    configurations = [("baseline", "", REPO)]
    also = [(name, Path(path).resolve()) for name, _, path in (a.partition("=") for a in args.also)]
    for database in args.databases:
        if before is not None:
            configurations.append(("before", database, before))
        configurations.append(("now", database, REPO))
        configurations.extend((name, database, path) for name, path in also)
    runs: dict[tuple[str, int], list[Samples]] = defaultdict(list)
    for concurrency in args.concurrency:
        for _ in range(args.repeat):  # interleaved, so a slower spell of the machine hits all
            for app, database, source in configurations:
                name = "baseline" if app == "baseline" else f"{app}/{database}"
                samples = run_one(
                    "baseline" if app == "baseline" else "reflect",
                    database,
                    concurrency,
                    args.answers,
                    args.slack_latency / 1000,
                    source,
                )
                runs[(name, concurrency)].append(samples)
    rows = [(name, n, Summary.of(samples)) for (name, n), samples in runs.items()]
    if before is not None:
        print(f"before: {before_name} ({before}); now: this working tree ({REPO})")
    print_table(rows, args.slack_latency)
    for (name, n), samples in runs.items():
        problems = sum((s.warnings for s in samples), Counter())
        for message, times in problems.most_common(5):
            print(f"  {name} at {n}: {times} x {message}")
    # The machine is shared: its load says how far these figures are the app's own.
    print(
        "load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    write_chart(rows, args.chart or default_chart(args.slack_latency))
    return 0


def default_chart(slack_latency_ms: float) -> Path:
    """A run with Slack taking its time keeps its own chart beside the instant one's."""
    if not slack_latency_ms:
        return REPO / "docs" / "latency.png"
    return REPO / "docs" / f"latency-slack-{slack_latency_ms:g}ms.png"


def print_table(rows: list[tuple[str, int, Summary]], slack_latency_ms: float = 0.0) -> None:
    ms = 1000.0
    print(
        f"{'app':<18}{'N':>5}{'ack p50':>9}{'ack p99':>9}{'next p50':>10}{'next p99':>10}"
        f"{'cpu/step':>10}{'ack x':>7}{'next x':>8}{'cpu x':>7}{'sql/step':>10}{'txn/step':>10}"
        f"{'failed':>8}  targets"
    )
    baseline = {n: s for name, n, s in rows if name == "baseline"}
    for name, n, s in sorted(rows, key=lambda row: (row[1], _order(row[0]))):
        base = baseline[n]
        ack_x, next_x = s.ack_p99 / base.ack_p99, s.next_p99 / base.next_p99
        cpu_x = s.cpu_per_step / base.cpu_per_step
        verdict, sql = "", ""
        if name != "baseline":
            missed = [
                what
                for what, over in (
                    ("ack", ack_x > ACK_RATIO),
                    ("next", next_x > NEXT_RATIO),
                    ("cpu", cpu_x > CPU_RATIO),
                    ("failures", s.failures > 0),
                )
                if over
            ]
            verdict = "met" if not missed else "missed: " + ", ".join(missed)
            sql = f"{s.statements_per_step:>10.1f}{s.transactions_per_step:>10.1f}"
        print(
            f"{name:<18}{n:>5}{s.ack_p50 * ms:>9.0f}{s.ack_p99 * ms:>9.0f}"
            f"{s.next_p50 * ms:>10.0f}{s.next_p99 * ms:>10.0f}{s.cpu_per_step * ms:>9.2f}m"
            f"{ack_x:>7.2f}{next_x:>8.2f}{cpu_x:>7.2f}{sql or ' ' * 20}{s.failures:>8}  {verdict}"
        )
    runs = rows[0][2].runs if rows else 0
    print(
        f"(ms; medians of {runs} runs; 'x' = over the bare app's figure at the same N; cpu/step ="
        " CPU of the server's processes per request; sql/step and txn/step = SQL statements and"
        " transactions (reads too) of the server's processes per request, background work"
        f" included; targets: ack p99 at most {ACK_RATIO}x, next p99 at most {NEXT_RATIO}x,"
        f" CPU per step at most {CPU_RATIO}x, no errors or timeouts; the fake Web API "
        + (
            f"took {slack_latency_ms:g} ms over each call)"
            if slack_latency_ms
            else "answered at once)"
        )
    )


def _order(name: str) -> tuple[int, str]:
    """The bare app first, then each database's before and now."""
    if name == "baseline":
        return 0, ""
    app, _, database = name.partition("/")
    return 1, f"{database}/{ {'before': 0, 'now': 1}.get(app, 2) }"


def write_chart(rows: list[tuple[str, int, Summary]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; no chart written (pip install -e '.[bench]')")
        return
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in sorted({name for name, _, _ in rows}):
        points = sorted((n, s) for row_name, n, s in rows if row_name == name)
        xs = [n for n, _ in points]
        axes[0].plot(xs, [s.ack_p99 * 1000 for _, s in points], marker="o", label=name)
        axes[1].plot(xs, [s.next_p99 * 1000 for _, s in points], marker="o", label=name)
    for axis, title in zip(
        axes, ["acknowledgement p99 (ms)", "next question p99 (ms)"], strict=True
    ):
        axis.set_title(title)
        axis.set_xlabel("practitioners at once")
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    print(f"chart: {path}")


if __name__ == "__main__":
    sys.exit(main())
