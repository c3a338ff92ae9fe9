"""Login throttling: too many failed attempts from one address, or on one account, wait a while."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta


class LoginThrottle:
    """At most `limit` failures per key in a sliding `window`; in memory, per process (one server)."""

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures[key]
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, keys: list[str], now: datetime) -> bool:
        """Whether any of these keys (an IP address, an email) used up its attempts."""
        with self._lock:
            return any(len(self._recent(k, now)) >= self.limit for k in keys)

    def failed(self, keys: list[str], now: datetime) -> None:
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
