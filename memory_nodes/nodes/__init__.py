"""Thin rclpy adapters: message in, one core call, message out."""
