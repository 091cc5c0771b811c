"""Launch voice_command_node on a robot: speak a command, the tracker tracks it.

    ros2 launch vl_tracking_ros voice.launch.py namespace:=tracker wake_word:=robot
    ros2 launch vl_tracking_ros voice.launch.py input:=topic audio_topic:=/audio/audio

Arguments: namespace (put it in the tracker's namespace so `command` reaches
it), input (mic | topic | wav), wake_word ('' = none), push_to_talk,
model_dir (a CTranslate2 Whisper directory; '' = the shipped tiny.en),
audio_topic and command_topic remappings. Every other parameter (VAD,
threads, thresholds) is described by `ros2 param describe` and
docs/voice.md.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = "vl_tracking_ros"


def generate_launch_description():
    args = [
        DeclareLaunchArgument("namespace", default_value="", description="node namespace (the tracker's)"),
        DeclareLaunchArgument("input", default_value="mic", description="mic, topic or wav"),
        DeclareLaunchArgument("wake_word", default_value="", description="e.g. robot ('' = none)"),
        DeclareLaunchArgument("push_to_talk", default_value="false",
                              description="segment by the voice/push_to_talk Bool topic instead of the VAD"),
        DeclareLaunchArgument("model_dir", default_value="",
                              description="CTranslate2 Whisper model directory ('' = shipped tiny.en)"),
        DeclareLaunchArgument("audio_topic", default_value="audio", description="AudioChunk / AudioData input"),
        DeclareLaunchArgument("command_topic", default_value="command", description="the tracker's command topic"),
    ]
    voice = Node(
        package=PACKAGE,
        executable="voice_command_node",
        name="voice_command_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[{
            "input": LaunchConfiguration("input"),
            "wake_word": LaunchConfiguration("wake_word"),
            "push_to_talk": ParameterValue(LaunchConfiguration("push_to_talk"), value_type=bool),
            "model.dir": LaunchConfiguration("model_dir"),
        }],
        remappings=[("audio", LaunchConfiguration("audio_topic")),
                    ("command", LaunchConfiguration("command_topic"))],
    )
    return LaunchDescription(args + [voice])
