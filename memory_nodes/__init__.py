"""Household robot memory stack: scene graph, octree, short-term cache, planner."""

__version__ = "0.1.0"
