"""A thread-safe single-slot mailbox that keeps only the newest item.

The tracker node's subscription callbacks ``put`` synchronised frames and
its inference thread ``get``s them: when inference is slower than the
cameras the older frame is replaced (and counted in ``dropped``) instead of
queueing, so latency never grows with a backlog.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Optional

__all__ = ["LatestSlot"]


class LatestSlot:
    """Single-slot "keep the newest" mailbox.

    put(item) -> True when an unread item was replaced (dropped).
    get(timeout) -> the item (removing it) or None after ``timeout`` seconds
    (None = wait forever, 0 = poll) or once :meth:`close` was called.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._has = False
        self._closed = False
        self.dropped = 0
        self.put_count = 0
        self.get_count = 0

    def put(self, item: Any) -> bool:
        with self._cond:
            replaced = self._has
            if replaced:
                self.dropped += 1
            self._item = item
            self._has = True
            self.put_count += 1
            self._cond.notify()
            return replaced

    def get(self, timeout: Optional[float] = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self._cond:
            while not self._has and not self._closed:
                if deadline is None:
                    self._cond.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._cond.wait(left)
            if not self._has:
                return None
            item, self._item, self._has = self._item, None, False
            self.get_count += 1
            return item

    def peek_pending(self) -> bool:
        """True when an unread item waits."""
        with self._cond:
            return self._has

    def close(self) -> None:
        """Wake every waiting ``get`` (they return None unless an item waits)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
