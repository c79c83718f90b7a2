"""Bounded use: how many questions and library changes one login (or client) may send."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

# Keys kept at most; beyond it, keys with nothing in their window are forgotten.
MAX_KEYS = 10_000


class RateLimit:
    """At most `limit` events per `window` seconds for each key (a sliding window).

    >>> rate = RateLimit(2, 60.0, clock=lambda: 0.0)
    >>> rate.take("ana"), rate.take("ana"), rate.take("ana"), rate.take("ben")
    (0.0, 0.0, 60.0, 0.0)
    """

    def __init__(
        self, limit: int, window: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Count one event for key and return 0.0, or, when key is at its limit, count nothing
        and return the seconds until it may send again."""
        with self._lock:
            now = self._clock()
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(events[0] + self.window - now, 0.001)
            events.append(now)
            if len(self._events) > MAX_KEYS:
                self._forget(now)
            return 0.0

    def _forget(self, now: float) -> None:
        for key in [k for k, e in self._events.items() if not e or e[-1] <= now - self.window]:
            del self._events[key]


def too_many(what: str, limit: int, wait: float) -> str:
    """The one-sentence answer to a login over its rate."""
    return (
        f"You have sent {limit} {what} in the last minute, the most this app takes from one "
        f"person; try again in {math.ceil(wait)} s."
    )
