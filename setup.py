"""pip-installable form of the vl_tracking_ros Python package (development,
CI, containers). On a robot, colcon builds the ament_cmake package instead
(CMakeLists.txt), which also generates the ROS messages."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["vl_tracking_ros", "vl_tracking_ros.*"]),
    package_data={"vl_tracking_ros": ["py.typed"]},
    data_files=[],
)
