"""Goal conditions, task planning and exploration."""
