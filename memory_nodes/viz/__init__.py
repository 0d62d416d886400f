"""Pictures of memory: occupancy, the scene graph and the robot's path on one map."""
