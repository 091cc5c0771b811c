"""Parameter declaration and validation (ros/params.py) on real nodes, and the
executables' clear exit on a bad parameter."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from vl_tracking_ros.ros import params as P  # noqa: E402

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]


def _config(ros_context, overrides, specs=P.TRACKER_PARAMS, build=P.tracker_config):
    node = Node("params_probe", context=ros_context, parameter_overrides=overrides)
    try:
        return build(P.declare_and_read(node, specs)), node.describe_parameters([specs[1].name])[0]
    finally:
        node.destroy_node()


def test_defaults_and_descriptors(ros_context):
    cfg, descriptor = _config(ros_context, [])
    assert cfg == P.TrackerNodeConfig()
    assert descriptor.read_only and descriptor.floating_point_range[0].to_value == 2000.0
    assert "slop" in descriptor.name and "pairs" in descriptor.description


def test_overrides_are_read_and_homographies_parsed(ros_context):
    h = [1.0, 0.0, 5.0, 0.0, 1.0, -3.0, 0.0, 0.0, 1.0]
    cfg, _ = _config(ros_context, [Parameter("modalities", value=["thermal"]),
                                   Parameter("align.thermal_homography", value=h),
                                   Parameter("model.preset", value="heuristic")])
    assert cfg.modalities == ("thermal",) and cfg.align_thermal_homography == tuple(h)
    assert cfg.model_preset == "heuristic" and cfg.align_depth_homography is None


@pytest.mark.parametrize("overrides,message", [
    ([Parameter("sync.slop_ms", value=-1.0)], "sync.slop_ms"),
    ([Parameter("model.backend", value="cuda")], "must be one of torch, onnxruntime, tensorrt"),
    ([Parameter("modalities", value=["depth", "lidar"])], "unknown modalities ['lidar']"),
    ([Parameter("align.depth_homography", value=[1.0, 2.0])], "needs 9 numbers"),
    ([Parameter("model.preset", value="  ")], "must not be empty"),
    ([Parameter("thermal.calibration", value="linear"), Parameter("thermal.gain", value=0.0)], "non-zero"),
    ([Parameter("command.max_chars", value=0)], "command.max_chars"),
])
def test_bad_values_raise_clear_errors(ros_context, overrides, message):
    with pytest.raises(P.ParameterError, match=None) as info:
        _config(ros_context, overrides)
    assert message in str(info.value)


def test_replay_bag_source_needs_a_path(ros_context):
    with pytest.raises(P.ParameterError, match="bag_path"):
        _config(ros_context, [Parameter("source", value="bag")], P.REPLAY_PARAMS, P.replay_config)


def test_tracker_node_exits_with_a_clear_error_on_a_bad_parameter(ros_context):
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_context.get_domain_id()))
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "vl_tracking_ros.ros.tracker_node", "--ros-args", "-p",
                           "model.backend:=cuda"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "model.backend" in proc.stderr and "must be one of" in proc.stderr


def test_standard_qos_overrides_apply_per_topic(ros_context):
    from rclpy.qos import ReliabilityPolicy

    from vl_tracking_ros.ros.tracker_node import TrackerNode

    node = TrackerNode(node_name="qos_probe", namespace="qos", context=ros_context, parameter_overrides=[
        Parameter("model.preset", value="heuristic"),
        Parameter("qos_overrides./qos/rgb/image.subscription.reliability", value="reliable"),
        Parameter("qos_overrides./qos/rgb/image.subscription.depth", value=2)])
    try:
        subs = {s.topic_name: s for s in node.subscriptions}
        assert subs["/qos/rgb/image"].qos_profile.reliability == ReliabilityPolicy.RELIABLE
        assert subs["/qos/rgb/image"].qos_profile.depth == 2
        assert subs["/qos/depth/image"].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
    finally:
        node.destroy_node()


def test_warm_up_builds_only_the_models_the_commands_need(ros_context):
    from vl_tracking_ros.ros.tracker_node import TrackerNode

    node = TrackerNode(node_name="warm_probe", namespace="warm", context=ros_context, parameter_overrides=[
        Parameter("model.preset", value="default"), Parameter("model.single_preset", value="heuristic"),
        Parameter("model.multi_preset", value="heuristic")])
    try:
        router = node._tracker
        assert router.built_presets() == {}
        node.warm_up_for(["track all people", "not a command"])
        assert router.built_presets() == {"multi": "heuristic"}
        assert node.tracker_name() == "default(single=heuristic (not loaded), multi=heuristic)"
    finally:
        node.destroy_node()
