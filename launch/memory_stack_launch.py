"""The memory nodes for a machine with a full ROS 2 install (``ros2 launch``).

Starts the same node set as ``memstack up --config config/stack_memory.yaml`` with the same
parameter files. Usage::

    ros2 launch memory_nodes memory_stack_launch.py
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    config = os.path.join(get_package_share_directory("memory_nodes"), "config")
    return LaunchDescription(
        [
            Node(
                package="memory_nodes",
                executable="short_term_memory_node",
                name="short_term_memory",
                parameters=[os.path.join(config, "short_term.yaml")],
                output="screen",
            ),
            Node(
                package="memory_nodes",
                executable="memory_server",
                name="memory_server",
                parameters=[os.path.join(config, "memory_server.yaml")],
                output="screen",
            ),
            Node(
                package="memory_nodes",
                executable="perception_node",
                name="perception",
                parameters=[os.path.join(config, "perception.yaml")],
                output="screen",
            ),
            Node(
                package="memory_nodes",
                executable="octree_node",
                name="octree",
                parameters=[os.path.join(config, "octree.yaml")],
                output="screen",
            ),
        ]
    )
