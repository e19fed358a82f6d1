"""Acknowledgement and next-question latency of `reflect serve`, side by side with a bare Bolt app.

    python -m benchmarks.latency                       # 40 and 200 practitioners, both databases
    python -m benchmarks.latency --concurrency 40 --databases sqlite --answers 5
    python -m benchmarks.latency --slack-latency 100   # Slack taking 100 ms over each call

Each simulated practitioner types /reflect, then answers like a person: sends an answer, waits
until the next question reaches the (fake, loopback) Slack Web API, sends the next. Prints a
table of p50/p99 and the ratios to the baseline; writes a chart of p99 against concurrency.
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
OWN = {"DATABASE_URL", "REFLECT_ENCRYPTION_KEY", "REFLECT_KEY_FILE"}


@dataclass
class Samples:
    ack: list[float] = field(default_factory=list)
    next_question: list[float] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0
    warnings: Counter[str] = field(default_factory=Counter)  # the server's, by message
    server_cpu: float = float("nan")  # seconds of CPU the server's processes used meanwhile


@dataclass(frozen=True)
class Summary:
    """One configuration over its runs: the median of each run's figure."""

    ack_p50: float
    ack_p99: float
    next_p50: float
    next_p99: float
    cpu_per_step: float
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


def practitioner(port: int, user: str, answers: int, arrivals: Arrivals, samples: Samples) -> None:
    steps = [(command_body(user, f"BEN-{user[-4:]}"), "application/x-www-form-urlencoded")]
    steps += [(message_body(user, "1"), "application/json") for _ in range(answers)]
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


def wait_until_serving(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    """Until the app answers HTTP: gunicorn listens before its worker has loaded the app, and
    requests sent in that moment would measure the worker starting, not the app."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return
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
    port = free_port()
    env = {
        # The server's tuning (WEB_CONCURRENCY, REFLECT_THREADS, ...) comes from the caller.
        **{k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k not in OWN},
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"http://127.0.0.1:{fake_port}/api/",
        "PYTHONPATH": str(source),
    }
    if url:
        env["DATABASE_URL"] = url
        env["REFLECT_ENCRYPTION_KEY"] = "nF2PbLSjG9jh3ci4m7g1YOtZLkFUv4qg_mX2G8BKm3w="
    server = start_server(app, port, env, workdir)
    samples = Samples()
    try:
        wait_until_serving(port, server)
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


# The targets, on a two-core machine: Slack's acknowledgement and the next question.
ACK_RATIO, ACK_LIMIT, NEXT_RATIO = 1.2, 0.250, 1.2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[40, 200])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--answers", type=int, default=8, help="answers per practitioner")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per configuration (medians are shown)"
    )
    parser.add_argument(
        "--slack-latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="milliseconds the fake Web API takes over each call, as a far-away Slack does",
    )
    parser.add_argument(
        "--compare-with",
        type=Path,
        metavar="CHECKOUT",
        help="also serve Reflect from another checkout (e.g. `git worktree add` of main), in"
        " the same interleaved runs, shown as 'before'",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        help="where to write the chart (docs/latency.png, or docs/latency-slack-MSms.png)",
    )
    args = parser.parse_args(argv)

    configurations = [("baseline", "", REPO)]
    for database in args.databases:
        if args.compare_with:
            configurations.append(("before", database, args.compare_with.resolve()))
        configurations.append(("reflect", database, REPO))
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
        f"{'app':<26}{'N':>5}{'ack p50':>9}{'ack p99':>9}{'next p50':>10}{'next p99':>10}"
        f"{'ack x':>7}{'next x':>8}{'cpu/step':>10}{'failed':>8}  targets"
    )
    baseline = {n: s for name, n, s in rows if name == "baseline"}
    for name, n, s in rows:
        base = baseline[n]
        ack_x, next_x = s.ack_p99 / base.ack_p99, s.next_p99 / base.next_p99
        if name == "baseline":
            verdict = ""
        else:
            missed = []
            if ack_x > ACK_RATIO or s.ack_p99 >= ACK_LIMIT:
                missed.append("ack")
            if next_x > NEXT_RATIO:
                missed.append("next")
            if s.failures:
                missed.append("failures")
            verdict = "met" if not missed else "missed: " + ", ".join(missed)
        print(
            f"{name:<26}{n:>5}{s.ack_p50 * ms:>9.0f}{s.ack_p99 * ms:>9.0f}"
            f"{s.next_p50 * ms:>10.0f}{s.next_p99 * ms:>10.0f}{ack_x:>7.2f}{next_x:>8.2f}"
            f"{s.cpu_per_step * ms:>9.2f}m{s.failures:>8}  {verdict}"
        )
    runs = rows[0][2].runs if rows else 0
    print(
        f"(ms; medians of {runs} runs; 'x' = p99 over the baseline's p99 at the same N; cpu/step ="
        " CPU of the server's processes per request; targets: ack p99 at most"
        f" {ACK_RATIO}x and under {ACK_LIMIT * ms:.0f} ms, next p99 at most {NEXT_RATIO}x,"
        " no errors or timeouts; the fake Web API "
        + (
            f"took {slack_latency_ms:g} ms over each call)"
            if slack_latency_ms
            else "answered at once)"
        )
    )


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
    axes[0].axhline(ACK_LIMIT * 1000, color="grey", linestyle=":", label="250 ms")
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
