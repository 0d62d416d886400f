"""Parameter descriptors with ranges, as every node declares them (ROS refuses values out of
range at ``ros2 param set`` and in parameter files)."""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def int_parameter(description: str, low: int, high: int) -> ParameterDescriptor:
    return ParameterDescriptor(
        description=description,
        integer_range=[IntegerRange(from_value=low, to_value=high, step=1)],
    )


def float_parameter(description: str, low: float, high: float) -> ParameterDescriptor:
    return ParameterDescriptor(
        description=description,
        floating_point_range=[FloatingPointRange(from_value=low, to_value=high, step=0.0)],
    )
