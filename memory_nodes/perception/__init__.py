"""Frames to object observations."""
