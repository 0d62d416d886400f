"""sensor_msgs/Image to and from numpy, with the encodings this stack uses (no cv_bridge)."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from memory_nodes.core.errors import InvalidInputError

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "32SC1": (np.dtype(np.int32), 1),
}


def image_to_numpy(msg: Image) -> np.ndarray:
    """The pixels of ``msg`` as an array; InvalidInputError for bad encodings or sizes."""
    if msg.encoding not in ENCODINGS:
        raise InvalidInputError(
            f"unsupported image encoding {msg.encoding!r}; supported: {sorted(ENCODINGS)}"
        )
    dtype, channels = ENCODINGS[msg.encoding]
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = msg.width * channels * dtype.itemsize
    if msg.step < row_bytes or len(msg.data) < msg.step * msg.height:
        raise InvalidInputError(
            f"image data too short for {msg.width}x{msg.height} {msg.encoding}: step {msg.step}, "
            f"{len(msg.data)} bytes"
        )
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8, count=msg.step * msg.height)
    rows = rows.reshape(msg.height, msg.step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype).astype(dtype.newbyteorder("="))
    shape = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    return pixels.reshape(shape)


def numpy_to_image(array: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    if encoding not in ENCODINGS:
        raise InvalidInputError(f"unsupported image encoding {encoding!r}")
    dtype, channels = ENCODINGS[encoding]
    array = np.ascontiguousarray(array, dtype=dtype)
    if (array.ndim == 2 and channels != 1) or (array.ndim == 3 and array.shape[2] != channels):
        raise InvalidInputError(f"array of shape {array.shape} does not fit encoding {encoding}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = array.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = False
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = array.tobytes()
    return msg
