"""Helpers of the ROS tests (imported by the test modules in this folder)."""
from __future__ import annotations

import time
from typing import Callable


def spin_until(executor, predicate: Callable[[], bool], timeout_s: float = 10.0, step_s: float = 0.02) -> bool:
    """Spin ``executor`` until ``predicate()`` is true (True) or timeout (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=step_s)
    return bool(predicate())
