"""The memory stack on a real robot (``ros2 launch memory_nodes robot_launch.py``).

Reads the camera and odometry topics named in ``config/robot.yaml``; no simulator. Pass
``params:=/path/to/your_robot.yaml`` to use your own copy of that file.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(
        get_package_share_directory("memory_nodes"), "config", "robot.yaml"
    )
    params = LaunchConfiguration("params")
    return LaunchDescription(
        [
            DeclareLaunchArgument("params", default_value=default_params),
            Node(
                package="memory_nodes",
                executable="perception_node",
                name="perception",
                parameters=[params],
                output="screen",
            ),
            Node(
                package="memory_nodes",
                executable="short_term_memory_node",
                name="short_term_memory",
                parameters=[params],
                output="screen",
            ),
            Node(
                package="memory_nodes",
                executable="memory_server",
                name="memory_server",
                parameters=[params],
                output="screen",
            ),
            Node(
                package="memory_nodes",
                executable="octree_node",
                name="octree",
                parameters=[params],
                output="screen",
            ),
        ]
    )
