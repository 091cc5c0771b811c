"""``vl_tracking_ros.core`` must import neither ROS, torch nor OpenCV."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import vl_tracking_ros.core as core

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("rclpy", "torch", "cv2")


def test_core_modules_exist():
    names = {m.name for m in pkgutil.iter_modules(core.__path__)}
    for required in ("types", "tracker", "imageconv", "events", "sync", "align", "commands", "geometry",
                     "assembler", "mailbox"):
        assert required in names


def test_core_imports_no_ros_torch_or_cv2():
    code = (
        "import importlib, pkgutil, sys\n"
        "import vl_tracking_ros.core as core\n"
        "mods = [m.name for m in pkgutil.iter_modules(core.__path__)]\n"
        "for m in mods: importlib.import_module('vl_tracking_ros.core.' + m)\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in %r]\n"
        "print(len(mods), ','.join(sorted(bad)))\n" % (FORBIDDEN,)
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    count, bad = proc.stdout.strip().split(" ", 1) if " " in proc.stdout.strip() else (proc.stdout.strip(), "")
    assert int(count) >= 10
    assert bad == "", f"vl_tracking_ros.core imported {bad}"


def test_heuristic_tracker_imports_no_torch():
    code = ("import sys\nfrom vl_tracking_ros.trackers.registry import build_tracker\n"
            "build_tracker('heuristic')\nprint(','.join(n for n in ('torch', 'rclpy', 'cv2') if n in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
