"""A loopback TCP proxy in front of PostgreSQL that a test can break on purpose.

Modes, switched at any time with ``set_mode``:

- ``PASS``: bytes flow both ways.
- ``REFUSE``: nothing listens; a new connection is refused. Open connections are reset.
- ``RESET``: a new connection is accepted and reset at once. Open connections are reset.
- ``BLACKHOLE``: a new connection is accepted and never answered; open connections go silent.
  Everything sent is read and dropped, so the client's kernel sees its bytes acknowledged.
- ``SILENT_AFTER_CONNECT``: a new connection gets through PostgreSQL's start-up exchange (up to
  the first ReadyForQuery) and then goes silent; open connections go silent.

A connection that has gone silent has lost bytes, so it is reset when the proxy passes again.
The proxy listens on 127.0.0.1 only, forwards to 127.0.0.1:5432 by default, and stops itself
after ``lifetime`` seconds. Clients must connect with ``sslmode=disable`` (the start-up exchange
is read in plain text).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from enum import Enum
from types import TracebackType

POLL_SECONDS = 0.05
READY_FOR_QUERY = ord("Z")


class Mode(Enum):
    PASS = "pass"
    REFUSE = "refuse"
    RESET = "reset"
    BLACKHOLE = "blackhole"
    SILENT_AFTER_CONNECT = "silent-after-connect"


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN, as a crashed peer or a firewall does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _StartupWatch:
    """Follows PostgreSQL's messages to the client until the first ReadyForQuery."""

    def __init__(self) -> None:
        self.buffer = b""
        self.done = False

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while not self.done and len(self.buffer) >= 5:
            kind = self.buffer[0]
            length = int.from_bytes(self.buffer[1:5], "big")
            if len(self.buffer) < 1 + length:
                return
            self.buffer = self.buffer[1 + length :]
            self.done = kind == READY_FOR_QUERY


class _Pair:
    """One client connection and, unless blackholed from the start, its upstream."""

    def __init__(self, client: socket.socket, upstream: socket.socket | None, silent: bool) -> None:
        self.client = client
        self.upstream = upstream
        self.silent = silent  # bytes are dropped: this connection can never pass again
        self.startup: _StartupWatch | None = None
        self.closed = False

    def sockets(self) -> list[socket.socket]:
        return [self.client] if self.upstream is None else [self.client, self.upstream]

    def reset(self) -> None:
        self.closed = True
        for sock in self.sockets():
            _reset(sock)

    def close(self) -> None:
        self.closed = True
        for sock in self.sockets():
            with contextlib.suppress(OSError):
                sock.close()


class FaultProxy:
    def __init__(
        self,
        upstream: tuple[str, int] = ("127.0.0.1", 5432),
        *,
        lifetime: float = 60.0,
    ) -> None:
        if upstream[0] not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("the fault proxy forwards to this machine only")
        self.upstream = upstream
        self.lifetime = lifetime
        self.mode = Mode.PASS
        self.port = 0
        self._listener: socket.socket | None = None
        self._pairs: list[_Pair] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)

    # ------------------------------------------------------------------ control

    def start(self) -> FaultProxy:
        self._listen()
        self._thread.start()
        return self

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self.mode = mode
            if mode in {Mode.REFUSE, Mode.RESET}:
                for pair in self._pairs:
                    pair.reset()
            elif mode in {Mode.BLACKHOLE, Mode.SILENT_AFTER_CONNECT}:
                for pair in self._pairs:
                    pair.silent = True
            else:
                for pair in self._pairs:
                    if pair.silent:
                        pair.reset()
            if mode is Mode.REFUSE and self._listener is not None:
                self._listener.close()
                self._listener = None
            elif mode is not Mode.REFUSE and self._listener is None:
                self._listen()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ the loop

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def _run(self) -> None:
        deadline = time.monotonic() + self.lifetime
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self._step()
        finally:
            with self._lock:
                for pair in self._pairs:
                    pair.close()
                self._pairs.clear()
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None

    def _step(self) -> None:
        with self._lock:
            self._pairs = [pair for pair in self._pairs if not pair.closed]
            watched = [sock for pair in self._pairs for sock in pair.sockets()]
            if self._listener is not None:
                watched.append(self._listener)
        try:
            readable, _, _ = select.select(watched, [], [], POLL_SECONDS)
        except (OSError, ValueError):  # a socket closed by set_mode meanwhile
            return
        with self._lock:
            for sock in readable:
                if sock is self._listener:
                    self._accept(sock)
                else:
                    self._relay(sock)

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        if self.mode is Mode.RESET:
            _reset(client)
            return
        if self.mode is Mode.BLACKHOLE:
            self._pairs.append(_Pair(client, None, silent=True))
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=2)
        except OSError:
            _reset(client)
            return
        pair = _Pair(client, upstream, silent=False)
        if self.mode is Mode.SILENT_AFTER_CONNECT:
            pair.startup = _StartupWatch()
        self._pairs.append(pair)

    def _relay(self, sock: socket.socket) -> None:
        pair = next((p for p in self._pairs if sock in p.sockets()), None)
        if pair is None or pair.closed:
            return
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            pair.close()
            return
        if pair.silent or pair.upstream is None:
            return  # dropped
        from_server = sock is pair.upstream
        target = pair.client if from_server else pair.upstream
        try:
            target.sendall(data)
        except OSError:
            pair.close()
            return
        if from_server and pair.startup is not None:
            pair.startup.feed(data)
            pair.silent = pair.startup.done
