"""A fake Slack Web API for benchmarks: answers every method with ok and reports each
chat.postMessage (recipient, arrival time) to the driver through a multiprocessing queue."""

from __future__ import annotations

import json
import multiprocessing
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


def _recipient(body: bytes, content_type: str) -> str | None:
    if "json" in content_type:
        try:
            return json.loads(body or b"{}").get("channel")
        except ValueError:
            return None
    values = parse_qs(body.decode("utf-8", "replace"))
    return (values.get("channel") or [None])[0]


def serve(
    port_queue: multiprocessing.Queue, arrivals: multiprocessing.Queue, latency: float = 0.0
) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            method = self.path.rstrip("/").rsplit("/", 1)[-1]
            if latency:  # Slack's own time to answer, which a far-away server adds to every call
                time.sleep(latency)
            if method == "chat.postMessage":
                recipient = _recipient(body, self.headers.get("Content-Type", ""))
                arrivals.put((recipient, time.monotonic()))
            payload = {"ok": True, "ts": f"{time.time():.6f}", "channel": "D0BENCH"}
            if method == "auth.test":
                payload.update(user_id="U0BENCHBOT", bot_id="B0BENCH", team_id="T0BENCH")
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    class Server(ThreadingHTTPServer):
        # Slack takes a team's burst of messages; the default backlog of 5 resets connections.
        request_queue_size = 1024

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def start(latency: float = 0.0) -> tuple[multiprocessing.Process, int, multiprocessing.Queue]:
    context = multiprocessing.get_context("spawn")
    port_queue: multiprocessing.Queue = context.Queue()
    arrivals: multiprocessing.Queue = context.Queue()
    process = context.Process(target=serve, args=(port_queue, arrivals, latency), daemon=True)
    process.start()
    return process, port_queue.get(timeout=30), arrivals
