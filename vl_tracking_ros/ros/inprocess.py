"""Run the package's nodes together in one process over real DDS.

Used by ``vl-tracking demo`` and ``vl-tracking bench ros``: a private
``rclpy.Context`` on its own domain (so nothing else on the machine is
disturbed), one executor spinning every node, and an :class:`OutputRecorder`
node that subscribes to the tracker's outputs like any other ROS client.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Tuple

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from ..msg import TrackArray
from . import convert as C

OUTPUT_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)


def private_domain_id() -> int:
    """ROS_DOMAIN_ID from the environment, else one in 101..200 derived from the pid."""
    env = os.environ.get("ROS_DOMAIN_ID", "")
    return int(env) if env.isdigit() else 101 + os.getpid() % 100


@contextlib.contextmanager
def ros_context(domain_id: Optional[int] = None) -> Iterator[Any]:
    """An initialised private rclpy Context (shut down on exit)."""
    domain = private_domain_id() if domain_id is None else int(domain_id)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        yield context
    finally:
        context.try_shutdown()


class OutputRecorder(Node):
    """Subscribes to ``tracks`` and ``debug_image`` and records what arrives.

    tracks: list of (receive_time_ns, TrackArray).
    debug_images: bounded deque of (stamp_ns, (H, W, 3) uint8 RGB) when
        ``keep_images``; ``on_debug_image`` callback sees every one.
    """

    def __init__(self, node_name: str = "output_recorder", keep_images: bool = False,
                 on_debug_image: Optional[Callable[[int, Any], None]] = None, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.tracks: List[Tuple[int, TrackArray]] = []
        self.debug_images: Deque[Tuple[int, Any]] = deque(maxlen=1000)
        self.debug_count = 0
        self._keep_images = keep_images
        self._on_debug_image = on_debug_image
        self._lock = threading.Lock()
        self.create_subscription(TrackArray, "tracks", self._on_tracks, OUTPUT_QOS)
        self.create_subscription(Image, "debug_image", self._on_debug, OUTPUT_QOS)

    def _on_tracks(self, msg: TrackArray) -> None:
        with self._lock:
            self.tracks.append((time.time_ns(), msg))

    def _on_debug(self, msg: Image) -> None:
        self.debug_count += 1
        if self._on_debug_image is None and not self._keep_images:
            return
        image = C.image_msg_to_rgb(msg)
        stamp_ns = C.stamp_to_ns(msg.header.stamp)
        if self._keep_images:
            self.debug_images.append((stamp_ns, image))
        if self._on_debug_image is not None:
            self._on_debug_image(stamp_ns, image)


def spin_until(executor: SingleThreadedExecutor, predicate: Callable[[], bool], timeout_s: float,
               step_s: float = 0.01) -> bool:
    """Spin until ``predicate()`` (True) or ``timeout_s`` passed (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=step_s)
    return bool(predicate())


def wait_for_matches(executor: SingleThreadedExecutor, pairs: List[Tuple[Any, int]], timeout_s: float = 5.0) -> bool:
    """Spin until every (publisher, n) pair has at least n matched subscriptions."""
    return spin_until(executor, lambda: all(pub.get_subscription_count() >= n for pub, n in pairs), timeout_s)


def rss_mb() -> float:
    """Resident set size of this process, MiB (Linux /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def machine_info() -> Dict[str, Any]:
    """CPU model, core count, memory, OS, Python, numpy / torch versions, GPU (if any)."""
    import platform

    import numpy as np

    info: Dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu_count": os.cpu_count(), "numpy": np.__version__}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_total_gb"] = round(int(f.readline().split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    try:
        info["affinity_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        pass
    import sys

    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch"] = torch.__version__
        info["cuda"] = bool(torch.cuda.is_available())
        info["torch_threads"] = torch.get_num_threads()
    return info
