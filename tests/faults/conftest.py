"""Breaking the database on purpose: PostgreSQL behind a proxy that can be cut, a SQLite file
locked by another process, made read-only, or on a full disk; and `reflect serve` run against
it, answering signed requests over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import make_url

from bot.bootstrap import open_database
from bot.settings import Settings
from tests.conftest import TEST_KEY, run_reflect
from tests.faults.proxy import FaultProxy
from tests.slack.conftest import (  # noqa: F401  (fixtures, and what the tests sign with)
    BOT_TOKEN,
    SIGNING_SECRET,
    dm_event,
    event_body,
    fake_slack,
    fake_slack_server,
    sign,
)
from tools.fake_slack import FakeSlack

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.monotonic()
    result = work()
    return result, time.monotonic() - started


# ------------------------------------------------------------------ PostgreSQL


@pytest.fixture
def postgres_url(database_url: str) -> str:
    """This run's PostgreSQL schema; the test is skipped on SQLite runs."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: set REFLECT_TEST_DATABASE_URL")
    return database_url


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy(lifetime=60) as running:
        yield running


def through(proxy: FaultProxy, database_url: str) -> str:
    """``database_url`` by way of the proxy (in plain text, which the proxy reads)."""
    url = make_url(database_url)
    query = {**url.query, "sslmode": "disable", "gssencmode": "disable"}
    proxied = url.set(host="127.0.0.1", port=proxy.port, query=query)
    return proxied.render_as_string(hide_password=False)


# ------------------------------------------------------------------ SQLite


def sqlite_database(folder: Path) -> str:
    """A new SQLite database in ``folder``, migrated, with no connection left open."""
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'reflect.db'}"
    open_database(Settings(database_url=url, encryption_keys=(TEST_KEY,))).engine.dispose()
    return url


@contextmanager
def write_lock_held(path: Path, seconds: float = 30) -> Iterator[None]:
    """Another process takes the SQLite database's write lock (BEGIN IMMEDIATE) and keeps it,
    for ``seconds`` at most."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        yield
    finally:
        holder.kill()
        holder.wait(10)


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file or a folder read-only, for whoever runs the tests: by its mode bits, or for
    root, whom mode bits do not stop, by a read-only bind mount over it."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    _mount(["--bind", str(path), str(path)])
    try:
        _mount(["-o", "remount,bind,ro", str(path), str(path)])
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=10)


@contextmanager
def tiny_disk(folder: Path, size: str = "2m") -> Iterator[Path]:
    """A small tmpfs at ``folder``; root only (the test is skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    folder.mkdir(parents=True, exist_ok=True)
    _mount(["-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)])
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, timeout=10)


def _mount(arguments: list[str]) -> None:
    done = subprocess.run(["mount", *arguments], capture_output=True, timeout=10, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.decode(errors='replace').strip()}")


def fill(folder: Path) -> None:
    """Write to ``folder`` until its disk is full."""
    with (folder / "filler").open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


# ------------------------------------------------------------------ commands and the server


reflect = run_reflect


def command_env(database_url: str, home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REFLECT_"))}
    return {
        **keep,
        "DATABASE_URL": database_url,
        "REFLECT_ENCRYPTION_KEY": TEST_KEY,
        "HOME": str(home),
    }


def serve_env(database_url: str, home: Path, fake: FakeSlack) -> dict[str, str]:
    return {
        **command_env(database_url, home),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.url,
        "REFLECT_THREADS": "4",
    }


def request(
    url: str, body: str | None = None, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, str]:
    data = body.encode() if body is not None else None
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, headers=headers or {}), timeout=timeout
        ) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Served:
    process: subprocess.Popen[bytes]

    def __init__(self, port: int, log: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = log

    def healthz(self) -> tuple[int, str]:
        return request(f"{self.base}/healthz")

    def backlog(self) -> tuple[int, dict[str, Any]]:
        status, body = request(f"{self.base}/healthz/backlog")
        return status, json.loads(body)

    def healthy_within(self, seconds: float) -> float:
        """Seconds until /healthz says 200; fails after ``seconds``."""
        started = time.monotonic()
        while self.healthz()[0] != 200:
            assert time.monotonic() - started < seconds, f"not healthy: {self.healthz()}"
            time.sleep(0.05)
        return time.monotonic() - started

    def answer(self, user: str, text: str, event_id: str) -> tuple[int, str]:
        body = event_body(dm_event(user, text), event_id)
        headers = {"Content-Type": "application/json", **sign(body)}
        return request(f"{self.base}/slack/events", body, headers)


@contextmanager
def served(env: dict[str, str], log: Path, *, healthy: bool = True) -> Iterator[Served]:
    """`reflect serve` in its own process group, always stopped; on return healthy (/healthz
    200), or with ``healthy=False`` answering /healthz at all."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
        )
        server = Served(port, log)
        server.process = process
        try:
            deadline = time.monotonic() + 20
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if server.healthz()[0] == 200 or not healthy:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "reflect serve did not become healthy"
                time.sleep(0.05)
            yield server
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
