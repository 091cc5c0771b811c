"""Launch tracker_node on a robot.

    ros2 launch vl_tracking_ros tracker.launch.py \
        rgb_topic:=/camera/color/image_raw camera_info_topic:=/camera/color/camera_info \
        depth_topic:=/camera/aligned_depth_to_color/image_raw preset:=default

Arguments: namespace, config (parameter YAML, default config/tracker.yaml),
preset (model.preset), device (model.device), and one remapping per input
topic. Outputs (tracks, debug_image, markers, target_pose, detections) stay
in the node's namespace.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "vl_tracking_ros"

#: input topic -> (launch argument, default remapping target)
INPUTS = {
    "rgb/image": ("rgb_topic", "/camera/color/image_raw"),
    "rgb/camera_info": ("camera_info_topic", "/camera/color/camera_info"),
    "depth/image": ("depth_topic", "/camera/aligned_depth_to_color/image_raw"),
    "thermal/image": ("thermal_topic", "/thermal/image_raw"),
    "events": ("events_topic", "/event_camera/events"),
    "events/image": ("event_image_topic", "/event_camera/image"),
    "command": ("command_topic", "command"),
}


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    args = [
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "tracker.yaml"),
                              description="parameter file (ros__parameters under tracker_node)"),
        DeclareLaunchArgument("preset", default_value="default",
                              description="model preset: default, mvlm-small, rmot-small, heuristic, ..."),
        DeclareLaunchArgument("device", default_value="cpu", description="inference device, e.g. cuda:0"),
    ]
    args += [DeclareLaunchArgument(arg, default_value=default, description=f"topic remapped to {topic}")
             for topic, (arg, default) in INPUTS.items()]
    tracker = Node(
        package=PACKAGE,
        executable="tracker_node",
        name="tracker_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[LaunchConfiguration("config"),
                    {"model.preset": LaunchConfiguration("preset"),
                     "model.device": LaunchConfiguration("device")}],
        remappings=[(topic, LaunchConfiguration(arg)) for topic, (arg, _default) in INPUTS.items()],
    )
    return LaunchDescription(args + [tracker])
