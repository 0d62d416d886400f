"""sensor_msgs/PointCloud2 from and to numpy (sensor_msgs_py is not available from pip)."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

_FIELD_TYPES = {
    np.dtype(np.float32): PointField.FLOAT32,
    np.dtype(np.float64): PointField.FLOAT64,
    np.dtype(np.int32): PointField.INT32,
    np.dtype(np.uint32): PointField.UINT32,
    np.dtype(np.int16): PointField.INT16,
    np.dtype(np.uint8): PointField.UINT8,
}
_NUMPY_TYPES = {code: dtype for dtype, code in _FIELD_TYPES.items()}


def cloud_to_msg(header: Header, points: np.ndarray, **channels: np.ndarray) -> PointCloud2:
    """An unorganised cloud with float32 x, y, z plus one field per extra channel."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    fields = [("x", np.float32), ("y", np.float32), ("z", np.float32)]
    fields += [(name, np.asarray(values).dtype) for name, values in channels.items()]
    record = np.empty(len(points), dtype=np.dtype(fields))
    record["x"], record["y"], record["z"] = points[:, 0], points[:, 1], points[:, 2]
    for name, values in channels.items():
        if len(values) != len(points):
            raise ValueError(f"channel {name!r} has {len(values)} values for {len(points)} points")
        record[name] = values
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = 1, len(points)
    msg.fields = [
        PointField(
            name=name,
            offset=record.dtype.fields[name][1],
            datatype=_FIELD_TYPES[np.dtype(dtype)],
            count=1,
        )
        for name, dtype in fields
    ]
    msg.is_bigendian = False
    msg.point_step = record.dtype.itemsize
    msg.row_step = msg.point_step * len(points)
    msg.is_dense = True
    msg.data = record.tobytes()
    return msg


def cloud_from_msg(msg: PointCloud2) -> dict[str, np.ndarray]:
    """Every field of a PointCloud2 as a numpy array (little-endian clouds only)."""
    if msg.is_bigendian:
        raise ValueError("big-endian PointCloud2 is not supported")
    dtype = np.dtype(
        {
            "names": [f.name for f in msg.fields],
            "formats": [_NUMPY_TYPES[f.datatype] for f in msg.fields],
            "offsets": [f.offset for f in msg.fields],
            "itemsize": msg.point_step,
        }
    )
    count = msg.width * msg.height
    if len(msg.data) < count * msg.point_step:
        raise ValueError(
            f"PointCloud2 data holds {len(msg.data)} bytes, needs {count * msg.point_step}"
        )
    record = np.frombuffer(bytes(msg.data), dtype=dtype, count=count)
    return {name: np.array(record[name]) for name in dtype.names}
