"""ROS-free memory algorithms and types. Nothing here may import rclpy or message packages."""
