"""`memstack demo`: two household sessions through the whole ROS stack, and their report."""
