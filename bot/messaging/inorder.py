"""Work done on a few threads, in order for each person."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")


class InOrder(Generic[Item]):
    """Hands items to ``handle`` on up to ``threads`` threads; items with the same key (a
    person) are handled one at a time, in the order submitted.

    ``handle`` returns False to stop its key's queue (a send that failed must be retried before
    anything after it): what was still queued for that key goes to ``give_back``, as does
    whatever is queued when the pool stops. ``pace`` is called before each item.
    """

    def __init__(
        self,
        handle: Callable[[Item], bool],
        give_back: Callable[[list[Item]], None],
        *,
        threads: int,
        name: str,
        pace: Callable[[], None] = lambda: None,
    ) -> None:
        self._handle = handle
        self._give_back = give_back
        self._pace = pace
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Item]] = {}
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    def submit(self, key: str, items: Iterable[Item]) -> None:
        with self._lock:
            if not self._stopping:
                waiting = self._queues.get(key)
                if waiting is None:
                    waiting = self._queues[key] = deque()
                    self._pool.submit(self._run, key)
                waiting.extend(items)
                return
        self._give_back(list(items))

    def _run(self, key: str) -> None:
        while True:
            with self._lock:
                waiting = self._queues[key]
                if not waiting or self._stopping:
                    del self._queues[key]
                    rest = list(waiting)
                    break
                item = waiting.popleft()
            self._pace()
            try:
                carry_on = self._handle(item)
            except Exception:
                carry_on = False
            if not carry_on:
                with self._lock:
                    rest = list(self._queues.pop(key))
                break
        if rest:
            self._give_back(rest)

    def stop(self) -> None:
        """Finish the items being handled; give back the rest."""
        with self._lock:
            self._stopping = True
        self._pool.shutdown(wait=True)
