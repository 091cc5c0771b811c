"""Demo on a robot's ROS 2 install: replay a synthetic clip into tracker_node,
with a command console in its own terminal and RViz.

    ros2 launch vl_tracking_ros demo.launch.py suite:=switch preset:=default rviz:=true

The replay node publishes the clip's scripted commands too; type more in the
console (``track the red ball``, ``track all people``, ``stop``).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "vl_tracking_ros"


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    demo_config = os.path.join(share, "config", "demo.yaml")
    rviz_config = os.path.join(share, "config", "vl_tracking.rviz")
    args = [
        DeclareLaunchArgument("suite", default_value="switch", description="synthetic suite to replay"),
        DeclareLaunchArgument("seed", default_value="-1", description="suite seed (-1 = the suite default)"),
        DeclareLaunchArgument("preset", default_value="default", description="tracker model preset"),
        DeclareLaunchArgument("rviz", default_value="true", description="start RViz"),
    ]
    replay = Node(package=PACKAGE, executable="replay_node", name="replay_node", output="screen",
                  parameters=[demo_config, {"suite": LaunchConfiguration("suite"),
                                            "seed": LaunchConfiguration("seed")}])
    tracker = Node(package=PACKAGE, executable="tracker_node", name="tracker_node", output="screen",
                   parameters=[demo_config, {"model.preset": LaunchConfiguration("preset")}])
    console = Node(package=PACKAGE, executable="command_console_node", name="command_console_node",
                   output="screen", prefix="xterm -e", parameters=[demo_config])
    rviz = Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", rviz_config],
                condition=IfCondition(LaunchConfiguration("rviz")))
    return LaunchDescription(args + [replay, tracker, console, rviz])
