"""replay_node and command_console_node over real DDS.

replay_node: what it publishes (encodings, camera_info, events, scripted
commands) carries one stamp per frame at the configured rate. The console:
piped input is published reliably and the process exits at EOF.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from ros_helpers import QOS, CAMERA, scene_depth_m, scene_events, scene_rgb, scene_thermal_k, spin_until  # noqa: E402
from vl_tracking_ros.core.types import SensorFrame  # noqa: E402
from vl_tracking_ros.msg import EventArray  # noqa: E402
from vl_tracking_ros.ros import convert as C  # noqa: E402
from vl_tracking_ros.ros.replay_node import ReplayClip, ReplayNode  # noqa: E402

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]
N_FRAMES, FPS = 6, 20.0
CLIP_T0_NS = 1_000_000_000_000
SENSOR_QOS = QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST, depth=50)
RELIABLE = Parameter("qos.sensor_reliability", value="reliable")  # no loss in tests


class Listener(Node):
    def __init__(self, context, name="listener"):
        super().__init__(name, context=context)
        self.got = {k: [] for k in ("rgb", "info", "depth", "thermal", "events", "event_image", "command")}
        for key, typ, topic in (("rgb", Image, "rgb/image"), ("info", CameraInfo, "rgb/camera_info"),
                                ("depth", Image, "depth/image"), ("thermal", Image, "thermal/image"),
                                ("events", EventArray, "events"), ("event_image", Image, "events/image"),
                                ("command", String, "command")):
            qos = QOS  # the replay publishes reliably in these tests (RELIABLE)
            self.create_subscription(typ, topic, lambda m, k=key: self.got[k].append((time.monotonic(), m)), qos)


def all_matched(replay: ReplayNode) -> bool:
    pubs = [replay.pub_rgb, replay.pub_info, replay.pub_depth, replay.pub_thermal, replay.pub_events,
            replay.pub_command]
    return all(p.get_subscription_count() > 0 for p in pubs if p is not None)


def make_clip() -> ReplayClip:
    frames, events = [], []
    for i in range(N_FRAMES):
        stamp = CLIP_T0_NS + int(i * 1e9 / FPS)
        frames.append(SensorFrame(image_rgb=scene_rgb(), stamp_ns=stamp, depth_m=scene_depth_m(),
                                  thermal_k=scene_thermal_k(), event_frame=np.ones((240, 320, 2), np.float32),
                                  camera=CAMERA, frame_index=i))
        events.append(scene_events(stamp, n=500, seed=i))
    return ReplayClip(frames=frames, events=events, commands=[(0, "track the red ball"), (3, "stop")],
                      camera=CAMERA, fps=FPS, name="hand-made")


@pytest.mark.parametrize("rgb,depth,thermal,events", [("bgr8", "16UC1", "mono16", "array"),
                                                      ("rgba8", "32FC1", "32FC1", "image")])
def test_replay_publishes_every_stream_with_one_stamp_per_frame(ros_context, rgb, depth, thermal, events):
    replay = ReplayNode(clip=make_clip(), autostart=False, context=ros_context, parameter_overrides=[
        Parameter("encodings.rgb", value=rgb), Parameter("encodings.depth", value=depth),
        Parameter("encodings.thermal", value=thermal), Parameter("events.format", value=events), RELIABLE])
    listener = Listener(ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    for n in (replay, listener):
        executor.add_node(n)
    try:
        assert spin_until(executor, lambda: all_matched(replay), 10.0)
        replay.start()
        assert spin_until(executor, replay.done.is_set, 10.0)
        spin_until(executor, lambda: all(len(listener.got[k]) >= N_FRAMES for k in ("rgb", "depth", "thermal", "info")),
                   5.0)
        got = listener.got
        assert len(got["rgb"]) == N_FRAMES and len(got["depth"]) == N_FRAMES and len(got["thermal"]) == N_FRAMES
        stamps = [C.stamp_to_ns(m.header.stamp) for _, m in got["rgb"]]
        assert stamps == sorted(stamps) and len(set(stamps)) == N_FRAMES
        gaps_ms = np.diff(stamps) / 1e6
        assert 30 < np.median(gaps_ms) < 90, gaps_ms  # 20 Hz on a busy machine
        assert [C.stamp_to_ns(m.header.stamp) for _, m in got["depth"]] == stamps
        assert [C.stamp_to_ns(m.header.stamp) for _, m in got["info"]] == stamps
        first = got["rgb"][0][1]
        assert first.encoding == rgb and (first.width, first.height) == (320, 240)
        np.testing.assert_array_equal(C.image_msg_to_rgb(first), scene_rgb())
        assert got["depth"][0][1].encoding == depth
        np.testing.assert_allclose(C.image_msg_to_depth_m(got["depth"][0][1]), scene_depth_m(), atol=1e-3)
        assert got["thermal"][0][1].encoding == thermal
        np.testing.assert_allclose(C.image_msg_to_thermal_k(got["thermal"][0][1]), scene_thermal_k(), atol=0.06)
        intr = C.camera_info_to_intrinsics(got["info"][0][1])
        assert (intr.fx, intr.cx, intr.width) == (CAMERA.fx, CAMERA.cx, CAMERA.width)
        if events == "array":
            packets = [m for _, m in got["events"]]
            real = [p for p in packets if len(p.x)]
            assert len(real) == N_FRAMES and all(len(p.x) == 500 for p in real)
            batch = C.event_array_to_batch(real[2])
            # re-stamped with the frame: events lie in the 20 ms before the frame's stamp
            assert stamps[2] // 1000 - 20_000 <= batch.t_us.min() and batch.t_us.max() < stamps[2] // 1000
            # each real packet is followed by an empty one stamped at its frame
            coverage = [C.stamp_to_ns(p.header.stamp) for p in packets if not len(p.x)]
            assert coverage == stamps
        else:
            assert len(got["event_image"]) == N_FRAMES and got["event_image"][0][1].encoding == "32FC1"
        commands = [m.data for _, m in got["command"]]
        assert commands == ["track the red ball", "stop"]
    finally:
        for n in (listener, replay):
            executor.remove_node(n)
            n.destroy_node()
        executor.shutdown()


def test_replay_loops_and_stops_at_max_frames(ros_context):
    replay = ReplayNode(node_name="loop_replay", clip=make_clip(), autostart=False, context=ros_context,
                        parameter_overrides=[Parameter("loop", value=True), Parameter("max_frames", value=9),
                                             Parameter("rate_hz", value=50.0), Parameter("modalities", value=["depth"]),
                                             Parameter("publish_commands", value=False)])
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(replay)
    try:
        t0 = time.monotonic()
        replay.start()
        assert spin_until(executor, replay.done.is_set, 10.0)
        assert replay.frames_published == 9 and replay.pub_thermal is None and replay.pub_command is None
        assert time.monotonic() - t0 >= 8 / 50.0
    finally:
        executor.remove_node(replay)
        replay.destroy_node()
        executor.shutdown()


def _console_env(ros_context) -> dict:
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(ros_context.get_domain_id())
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_console_piped_publishes_every_line_and_exits(ros_context):
    listener = Listener(ros_context, name="console_listener")
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(listener)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "vl_tracking_ros.ros.command_console_node"], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=_console_env(ros_context), text=True)
        proc.stdin.write("track the red ball\n\nhelp\ntrack all people; track the dog\nstop\n")
        proc.stdin.close()
        assert spin_until(executor, lambda: len(listener.got["command"]) >= 3 or proc.poll() not in (None, 0), 30.0)
        rc = proc.wait(timeout=30)
        out = proc.stdout.read()
        assert rc == 0, out
        assert [m.data for _, m in listener.got["command"]] == ["track the red ball", "track all people; track the dog",
                                                                "stop"]
        assert "track all <expression>" in out  # help went to stdout, not to the topic
    finally:
        executor.remove_node(listener)
        listener.destroy_node()
        executor.shutdown()


def test_console_piped_without_subscriber_warns_and_exits(ros_context):
    proc = subprocess.run([sys.executable, "-m", "vl_tracking_ros.ros.command_console_node", "--ros-args",
                           "-p", "match_timeout_s:=0.3", "-p", "linger_s:=0.1", "-r", "command:=nobody_listens"],
                          cwd=ROOT, input="track the red ball\n", capture_output=True, text=True,
                          env=_console_env(ros_context), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "no subscriber" in proc.stderr + proc.stdout


def test_replay_from_an_mcap_bag(ros_context, tmp_path):
    """source=bag: a bag written by the data package is replayed on the same topics."""
    from vl_tracking_ros.data.bag import write_bag
    from vl_tracking_ros.data.scene import ClipConfig
    from vl_tracking_ros.data.world import render_clip

    clip = render_clip(ClipConfig(num_frames=6), seed=5)
    bag = tmp_path / "clip.mcap"
    write_bag(clip, bag)
    replay = ReplayNode(node_name="bag_replay", autostart=False, context=ros_context, parameter_overrides=[
        Parameter("source", value="bag"), Parameter("bag_path", value=str(bag)), Parameter("rate_hz", value=30.0),
        RELIABLE])
    listener = Listener(ros_context, name="bag_listener")
    executor = SingleThreadedExecutor(context=ros_context)
    for n in (replay, listener):
        executor.add_node(n)
    try:
        assert len(replay.clip.frames) == 6 and replay.clip.camera == clip.camera
        assert spin_until(executor, lambda: all_matched(replay), 10.0)
        replay.start()
        assert spin_until(executor, replay.done.is_set, 10.0)
        spin_until(executor, lambda: len(listener.got["rgb"]) >= 6 and len(listener.got["depth"]) >= 6, 5.0)
        assert len(listener.got["rgb"]) == 6 and len(listener.got["depth"]) == 6
        np.testing.assert_array_equal(C.image_msg_to_rgb(listener.got["rgb"][2][1]), clip.frames[2].image_rgb)
        assert [m.data for _, m in listener.got["command"]] == [c for _, c in clip.command_schedule]
    finally:
        for n in (listener, replay):
            executor.remove_node(n)
            n.destroy_node()
        executor.shutdown()
