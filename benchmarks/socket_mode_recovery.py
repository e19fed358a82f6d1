"""How fast each Socket Mode client gets back to acknowledging after the connection is lost or
refreshed, against a local imitation of Socket Mode (tests/fake_socket_mode.py).

    python -m benchmarks.socket_mode_recovery                  # every client installed, 3 runs
    python -m benchmarks.socket_mode_recovery --runs 5 --clients reflect websocket_client
    python -m benchmarks.socket_mode_recovery --tuned 2    # and slack_sdk's, pinging every 2 s

For each client, the median over the runs of:

- drop: seconds from the connection being cut (no close frame) to the acknowledgement of an
  envelope sent at that moment (Slack keeps it for the next connection);
- silent: the same when the connection stays open but nothing comes back, not even a pong;
- refresh: the slowest acknowledgement of slash commands sent every 0.1 s from Slack's
  ``disconnect`` (refresh_requested) until a second after it closes the old connection
  ``--close-after`` seconds later. Slack gives up on an acknowledgement after 3 s.

A figure of ``>N`` means nothing came back within ``--timeout`` seconds. "reflect" is the
client `reflect serve` runs (bot/slack/socket_mode.py); the others are slack_sdk's, driven by
Bolt's Socket Mode handlers with their default settings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt import Ack, App
from slack_sdk.web import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.socket_mode import PING_INTERVAL
from tests.fake_socket_mode import FakeSocketMode, slash_command
from tools.fake_slack import FakeSlack

APP_TOKEN = "xapp-benchmark"
BOT_TOKEN = "xoxb-benchmark"


class Running(Protocol):
    def stop(self) -> None: ...


# (the app, the Web API's URL, a ping interval or None for the client's default)
Starter = Callable[[App, str, float | None], Running]


def stub_app(api_url: str) -> App:
    """A Bolt app that acknowledges /reflect at once: only the connection is measured."""
    app = App(
        client=WebClient(token=BOT_TOKEN, base_url=api_url),
        signing_secret="",
        token_verification_enabled=False,
        request_verification_enabled=False,
    )

    @app.command("/reflect")
    def reflect(ack: Ack) -> None:
        ack()

    return app


# ---------------------------------------------------------------------- the clients


class ThreadedHandler:
    """Bolt's handler over slack_sdk's built-in or websocket-client client."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        handler.connect()

    def stop(self) -> None:
        self.handler.close()


class AsyncHandler:
    """Bolt's handler over slack_sdk's aiohttp or websockets client, on a loop of its own."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.loop = asyncio.new_event_loop()
        self.handler: Any = None
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)

            async def connect() -> None:
                self.handler = make()
                await self.handler.connect_async()
                ready.set()

            self.loop.create_task(connect())
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self) -> None:
        if self.handler is not None:
            future = asyncio.run_coroutine_threadsafe(self.handler.close_async(), self.loop)
            with contextlib.suppress(Exception):
                future.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def pinging(ping: float | None) -> dict[str, float]:
    return {} if ping is None else {"ping_interval": ping}


def start_builtin(app: App, api_url: str, ping: float | None) -> Running:
    from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler

    return ThreadedHandler(SocketModeHandler(app, APP_TOKEN, **pinging(ping)))


def start_websocket_client(app: App, api_url: str, ping: float | None) -> Running:
    from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler

    return ThreadedHandler(SocketModeHandler(app, APP_TOKEN, **pinging(ping)))


def start_aiohttp(app: App, api_url: str, ping: float | None) -> Running:
    from slack_bolt.adapter.socket_mode.aiohttp import SocketModeHandler

    return AsyncHandler(
        lambda: SocketModeHandler(
            app, APP_TOKEN, web_client=AsyncWebClient(base_url=api_url), **pinging(ping)
        )
    )


def start_websockets(app: App, api_url: str, ping: float | None) -> Running:
    from slack_bolt.adapter.socket_mode.websockets import SocketModeHandler

    return AsyncHandler(
        lambda: SocketModeHandler(
            app, APP_TOKEN, web_client=AsyncWebClient(base_url=api_url), **pinging(ping)
        )
    )


def start_reflect(app: App, api_url: str, ping: float | None) -> Running:
    from bot.slack.socket_mode import SocketModeConnection

    connection = SocketModeConnection(app, APP_TOKEN)
    connection.start()
    return connection


CLIENTS: dict[str, tuple[str, Starter]] = {
    "builtin": ("slack_sdk", start_builtin),
    "websocket_client": ("websocket", start_websocket_client),
    "aiohttp": ("aiohttp", start_aiohttp),
    "websockets": ("websockets", start_websockets),
    "reflect": ("websockets", start_reflect),
}


def available(names: list[str]) -> list[str]:
    return [name for name in names if importlib.util.find_spec(CLIENTS[name][0]) is not None]


# ---------------------------------------------------------------------- the measurements


@dataclass(frozen=True)
class Setup:
    timeout: float
    close_after: float
    ping: float | None = None  # the slack_sdk clients' ping interval; None: their default


def measure(name: str, scenario: Callable[[FakeSocketMode, Setup], float], setup: Setup) -> float:
    """One run of ``scenario`` against client ``name``, with a fresh imitation of Slack."""
    web = FakeSlack().start()
    socket_mode = FakeSocketMode(lifetime=setup.timeout * 4 + 60).start()
    web.methods["apps.connections.open"] = socket_mode.connections_open
    running: Running | None = None
    try:
        running = CLIENTS[name][1](stub_app(web.url), web.url, setup.ping)
        if not socket_mode.wait_for_connections(1, 10):
            return float("inf")
        time.sleep(0.2)  # settled: its first pings are answered
        return scenario(socket_mode, setup)
    finally:
        stopper = threading.Thread(target=running.stop if running else lambda: None, daemon=True)
        stopper.start()
        stopper.join(10)  # a client that will not stop is left behind, not waited for
        socket_mode.stop()
        web.stop()


def acknowledged_within(socket_mode: FakeSocketMode, timeout: float) -> float:
    """Seconds from now until the app acknowledges a slash command sent now."""
    started = time.monotonic()
    envelope_id = socket_mode.send("slash_commands", slash_command("U0BENCH", "", "trig.bench"))
    acked = socket_mode.wait_for_ack(envelope_id, timeout)
    return float("inf") if acked is None or acked.acked_at is None else acked.acked_at - started


def after_drop(socket_mode: FakeSocketMode, setup: Setup) -> float:
    socket_mode.drop()
    return acknowledged_within(socket_mode, setup.timeout)


def after_silence(socket_mode: FakeSocketMode, setup: Setup) -> float:
    socket_mode.silence()
    return acknowledged_within(socket_mode, setup.timeout)


def across_refresh(socket_mode: FakeSocketMode, setup: Setup) -> float:
    socket_mode.refresh(close_after=setup.close_after)
    started = time.monotonic()
    sent: list[tuple[str, float]] = []
    while time.monotonic() - started < setup.close_after + 1.0:
        at = time.monotonic()
        sent.append((socket_mode.send("slash_commands", slash_command("U0BENCH", "", "t")), at))
        time.sleep(0.1)
    worst = 0.0
    for envelope_id, at in sent:
        acked = socket_mode.wait_for_ack(envelope_id, setup.timeout)
        if acked is None or acked.acked_at is None:
            return float("inf")
        worst = max(worst, acked.acked_at - at)
    return worst


SCENARIOS: dict[str, Callable[[FakeSocketMode, Setup], float]] = {
    "drop": after_drop,
    "silent": after_silence,
    "refresh": across_refresh,
}


def shown(seconds: float, timeout: float) -> str:
    return f">{timeout:g}" if seconds == float("inf") else f"{seconds:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to give up after")
    parser.add_argument("--close-after", type=float, default=2.0, help="refresh: Slack's wait")
    parser.add_argument("--clients", nargs="+", default=list(CLIENTS), choices=list(CLIENTS))
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument(
        "--tuned",
        type=float,
        metavar="SECONDS",
        help="also run slack_sdk's clients with this ping interval (reflect pings every "
        f"{PING_INTERVAL:g} s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the clients' own reconnect chatter
    clients = available(args.clients)
    print(f"median of {args.runs} runs, seconds; refresh: Slack closes {args.close_after:g} s on")
    print(f"{'client':<28}" + "".join(f"{s + ' s':>10}" for s in args.scenarios), flush=True)
    pings: list[float | None] = [None] if args.tuned is None else [None, args.tuned]
    for ping in pings:
        setup = Setup(timeout=args.timeout, close_after=args.close_after, ping=ping)
        for name in clients:
            if ping is not None and name == "reflect":
                continue
            row = f"{name if ping is None else f'{name} (ping {ping:g} s)':<28}"
            for scenario in args.scenarios:
                runs = [measure(name, SCENARIOS[scenario], setup) for _ in range(args.runs)]
                row += f"{shown(statistics.median(runs), args.timeout):>10}"
            print(row, flush=True)
    missing = sorted(set(args.clients) - set(clients))
    if missing:
        print(f"not installed: {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
