"""Acknowledgements first: senders hold back while requests are being answered.

Slack retries a request that is not answered within three seconds and tells the person the app
did not respond; a message sent a moment later than it could have been is not noticed. So the
threads that send messages wait while the process is answering requests, for a short while at
most, and send in the gaps between them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# How long a sender waits for a gap before sending anyway, so a steady stream of requests
# cannot hold messages back for longer than this.
LONGEST_WAIT = 0.25


class RequestsInHand:
    def __init__(self, longest_wait: float = LONGEST_WAIT) -> None:
        self.longest_wait = longest_wait
        self._count = 0
        self._changed = threading.Condition()

    @property
    def count(self) -> int:
        return self._count

    def started(self) -> None:
        with self._changed:
            self._count += 1

    def finished(self) -> None:
        with self._changed:
            self._count -= 1
            if self._count == 0:
                self._changed.notify_all()

    def wait_for_gap(self) -> None:
        """Return when no request is in hand, or after ``longest_wait`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._count == 0, timeout=self.longest_wait)


class Answered:
    """A WSGI response body that reports when the server has finished writing it (the server
    calls close() then, as WSGI requires)."""

    def __init__(self, body: Iterable[bytes], finished: Callable[[], None]) -> None:
        self._body = body
        self._finished: Callable[[], None] | None = finished

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        close: Any = getattr(self._body, "close", None)
        try:
            if close is not None:
                close()
        finally:
            if self._finished is not None:
                finished, self._finished = self._finished, None
                finished()
