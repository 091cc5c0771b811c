"""Timing statistics, peak memory and machine description for benchmarks."""
from __future__ import annotations

import os
import platform
import resource
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np


def latency_stats(samples_ms: Sequence[float]) -> Dict[str, float]:
    """p50 / p95 / mean / min / max (ms) and count of latency samples."""
    arr = np.asarray(list(samples_ms), dtype=np.float64)
    if arr.size == 0:
        return {"n": 0}
    return {"n": int(arr.size), "p50_ms": round(float(np.percentile(arr, 50)), 4),
            "p95_ms": round(float(np.percentile(arr, 95)), 4), "mean_ms": round(float(arr.mean()), 4),
            "min_ms": round(float(arr.min()), 4), "max_ms": round(float(arr.max()), 4)}


def time_calls(fn: Callable[[], Any], iters: int, warmup: int, sync: Optional[Callable[[], None]] = None,
               progress: Optional[str] = None) -> Tuple[List[float], List[float]]:
    """Run ``fn`` ``warmup`` times untimed, then ``iters`` times.

    Returns (wall ms per call, process CPU ms per call). On a shared machine
    the wall time includes waiting for a core; the CPU time (all threads of
    this process) does not, so it is the load-robust figure (with one thread
    it is what the wall time would be on an idle core).
    sync: called after each call before the clock stops (CUDA synchronize),
        so asynchronous GPU work is counted.
    """
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    wall: List[float] = []
    cpu: List[float] = []
    it = range(iters)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=progress, unit="it", leave=False)
    for _ in it:
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        if sync:
            sync()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return wall, cpu


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux ru_maxrss is KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> Dict[str, Any]:
    """CPU model, cores (usable / logical), memory, OS, Python and library versions, GPU if any."""
    info: Dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_cores_logical": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:  # other work on the machine during the run (shared dev machines): read the figures with it
        info["load_average_1_5_15"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * page / 2**30, 1)
    except (ValueError, OSError):
        pass
    versions: Dict[str, Optional[str]] = {"numpy": np.__version__}
    for mod in ("torch", "onnxruntime", "onnx", "tensorrt"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    info["versions"] = versions
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu_name"] = torch.cuda.get_device_name(0)
            info["cuda"] = torch.version.cuda
        else:
            info["gpu_name"] = None
    except ImportError:
        info["gpu_name"] = None
    return info
