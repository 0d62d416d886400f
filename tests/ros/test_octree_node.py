"""The octree node in its own process: inserts clouds and depth, answers, publishes, persists."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import Point, PoseStamped, Vector3
from memory_interfaces.srv import ClearBox, LoadMemory, QuerySpace, SaveMemory
from nav_msgs.msg import OccupancyGrid
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from memory_nodes.core.octree import FORMAT_MAGIC, SparseOctree
from memory_nodes.core.types import CameraIntrinsics
from memory_nodes.nodes import conversions
from memory_nodes.nodes.images import numpy_to_image
from memory_nodes.nodes.pointcloud import cloud_to_msg
from memory_nodes.nodes.registry import NODE_MODULES
from tests.ros.conftest import StackProcess, call_service, spin_until

pytestmark = pytest.mark.slow  # every test starts nodes in processes of their own

CAMERA = (0.0, 0.0, 1.0)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class DirectNode(StackProcess):
    """The node module started as ``memstack up`` would start it, while it is unregistered."""

    def __init__(self, params: Path) -> None:
        command = [sys.executable, "-m", "memory_nodes.nodes.octree_node", "--ros-args"]
        self.process = subprocess.Popen(
            [*command, "--params-file", str(params)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ),
            start_new_session=True,
        )
        self.output = ""


def _start(tmp_path: Path, start_stack: Callable[[Path], StackProcess], **params) -> StackProcess:
    values = {"resolution": 0.1, "max_range": 6.0, "movable_labels": ["Apple"],
              "marker_period_s": 0.2, "projection_period_s": 0.2, "changes_period_s": 0.2,
              **params}  # fmt: skip
    lines = [f"    {key}: {json.dumps(value)}" for key, value in values.items()]
    params_file = tmp_path / "octree.yaml"
    params_file.write_text("octree:\n  ros__parameters:\n" + "\n".join(lines) + "\n")
    if "octree_node" not in NODE_MODULES:
        return DirectNode(params_file)
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "stack:\n  nodes:\n    - executable: octree_node\n      parameters: octree.yaml\n"
    )
    return start_stack(stack)


def _log(node: StackProcess) -> str:
    """The node's output so far (stops it: only called when a check has failed)."""
    node.stop(signal.SIGINT)
    return node.output


def _stop(node: StackProcess) -> str:
    code, _ = node.stop(signal.SIGINT)
    assert code == 0, node.output
    return node.output


@pytest.fixture
def start_octree(
    start_stack: Callable[[Path], StackProcess], tmp_path: Path
) -> Iterator[Callable[..., StackProcess]]:
    """Start the node with test parameters; stop it at teardown even when a check failed."""
    started: list[StackProcess] = []

    def _start_octree(**params) -> StackProcess:
        node = _start(tmp_path, start_stack, **params)
        started.append(node)
        return node

    yield _start_octree
    for node in started:
        if node.process.poll() is None:
            node.stop(signal.SIGTERM)


def _room_cloud() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A wall at x = 2 (label 1, "Wall") and an apple-sized blob in front of it (label 2)."""
    ys, zs = np.meshgrid(np.arange(-1.0, 1.0, 0.03), np.arange(0.2, 1.8, 0.03))
    wall = np.column_stack([np.full(ys.size, 2.02), ys.ravel(), zs.ravel()])
    apple = np.array([[1.45, 0.55, 1.05], [1.46, 0.56, 1.06]])
    points = np.vstack([wall, apple])
    labels = np.r_[np.ones(len(wall), np.int32), np.full(2, 2, np.int32)]
    objects = np.r_[np.zeros(len(wall), np.int32), np.ones(2, np.int32)]
    return points, labels, objects


def _pose(stamp: float, position=CAMERA) -> PoseStamped:
    msg = PoseStamped(header=Header(stamp=conversions.stamp_to_msg(stamp), frame_id="map"))
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = position
    # Optical frame looking along map +x: z_opt = x_map, x_opt = -y_map, y_opt = -z_map.
    msg.pose.orientation.x, msg.pose.orientation.y = -0.5, 0.5
    msg.pose.orientation.z, msg.pose.orientation.w = -0.5, 0.5
    return msg


def _points(*xyz: tuple[float, float, float]) -> list[Point]:
    return [Point(x=x, y=y, z=z) for x, y, z in xyz]


def _query(node, client, mode: str, points=(), **fields) -> QuerySpace.Response:
    request = QuerySpace.Request(mode=mode, points=_points(*points))
    for key, value in fields.items():
        setattr(request, key, value)
    return call_service(node, client, request)


def test_octree_node_maps_answers_publishes_persists_and_survives_bad_clouds(
    ros_node, start_octree, tmp_path: Path
) -> None:
    octree = start_octree(movable_decay_rate=0.0)  # no decay: saved bytes stay comparable
    cloud_pub = ros_node.create_publisher(PointCloud2, "labelled_cloud", 10)
    pose_pub = ros_node.create_publisher(PoseStamped, "camera/pose", 10)
    names_pub = ros_node.create_publisher(String, "labelled_cloud_labels", 10)
    grids: list[OccupancyGrid] = []
    markers: list[MarkerArray] = []
    changes: list[PointCloud2] = []
    ros_node.create_subscription(OccupancyGrid, "octree/projection", grids.append, LATCHED)
    ros_node.create_subscription(MarkerArray, "octree/occupied", markers.append, LATCHED)
    ros_node.create_subscription(PointCloud2, "octree/changes", changes.append, 10)
    query = ros_node.create_client(QuerySpace, "/octree/query_space")
    assert spin_until(ros_node, query.service_is_ready, 20.0), _log(octree)
    assert spin_until(ros_node, lambda: cloud_pub.get_subscription_count() > 0, 10.0)
    assert spin_until(ros_node, lambda: pose_pub.get_subscription_count() > 0, 10.0)

    # cell centres at 0.1 m: on the wall, on the apple, in the free space before it, unseen
    wall, apple, ahead = (2.05, 0.05, 1.05), (1.45, 0.55, 1.05), (1.05, 0.05, 1.05)
    unseen = (0.0, 5.0, 5.0)
    points, labels, objects = _room_cloud()

    def _publish(cloud: PointCloud2, stamp: float) -> None:
        cloud.header = Header(stamp=conversions.stamp_to_msg(stamp), frame_id="map")
        # The names name the label numbers of the cloud with the same stamp.
        when = {"sec": cloud.header.stamp.sec, "nanosec": cloud.header.stamp.nanosec}
        names = {"labels": ["", "Wall", "Apple"], "objects": ["", "Apple|1"], "stamp": when}
        names_pub.publish(String(data=json.dumps(names)))
        cloud_pub.publish(cloud)
        pose_pub.publish(_pose(stamp))
        spin_until(ros_node, lambda: False, 0.05)

    def _state(point) -> int:
        return _query(ros_node, query, "occupancy", [point]).occupancy[0]

    # A best-effort pose subscriber drops samples until it has matched the publisher, so the
    # frame is repeated (as a camera would) until the map holds it.
    header = Header(frame_id="map")
    good = cloud_to_msg(header, points, label=labels, object_id=objects)
    deadline = time.monotonic() + 10.0
    while _state(wall) != 1:
        assert time.monotonic() < deadline, _log(octree)
        _publish(good, time.time())
        spin_until(ros_node, lambda: False, 0.2)

    answer = _query(ros_node, query, "occupancy", [wall, apple, ahead, unseen])
    assert answer.success and list(answer.occupancy) == [1, 1, 0, -1]
    ray = _query(ros_node, query, "raycast", ray_origin=Point(x=0.0, y=0.0, z=1.0),
                 ray_direction=Vector3(x=1.0, y=0.0, z=0.0))  # fmt: skip
    assert ray.success and ray.ray_hit and abs(ray.hit_point.x - 2.05) < 0.11, ray.message
    assert _query(ros_node, query, "free", [ahead, (0.5, 0.0, 1.0)]).all_free
    assert not _query(ros_node, query, "free", [ahead, wall]).all_free
    assert not _query(ros_node, query, "teleport", [ahead]).success

    # The navigation grid: the wall is occupied, the space in front of it free.
    assert spin_until(ros_node, lambda: bool(grids) and 100 in grids[-1].data, 5.0)
    grid = grids[-1]
    assert grid.header.frame_id == "map" and abs(grid.info.resolution - 0.1) < 1e-6
    cells = np.array(grid.data, np.int8).reshape(grid.info.height, grid.info.width)
    col = int((ahead[0] - grid.info.origin.position.x) / 0.1)
    row = int((ahead[1] - grid.info.origin.position.y) / 0.1)
    assert cells[row, col] == 0 and set(np.unique(cells).tolist()) <= {-1, 0, 100}
    # The grid is sent again only when it changed: the same frame again changes no column.
    spin_until(ros_node, lambda: False, 0.6)
    sent = len(grids)
    _publish(good, time.time())
    spin_until(ros_node, lambda: False, 1.0)
    assert len(grids) == sent
    assert spin_until(ros_node, lambda: bool(markers), 5.0)
    cubes = [m for m in markers[-1].markers if m.type == Marker.CUBE_LIST]
    assert cubes and len(cubes[0].points) > 100 and len(cubes[0].colors) == len(cubes[0].points)
    assert spin_until(ros_node, lambda: bool(changes), 5.0)
    assert {f.name for f in changes[0].fields} >= {"x", "y", "z", "occupancy"}

    # Malformed input: a truncated cloud, a cloud of NaNs, an empty one. The node keeps going.
    broken = cloud_to_msg(header, points, label=labels, object_id=objects)
    broken.data = bytes(broken.data)[:100]
    _publish(broken, time.time())
    _publish(cloud_to_msg(header, np.full((50, 3), np.nan)), time.time() + 0.1)
    _publish(cloud_to_msg(header, np.empty((0, 3))), time.time() + 0.2)
    names_pub.publish(String(data=json.dumps({"labels": ["", "Wall"]})))  # no stamp: refused
    assert _state(wall) == 1

    # Save, reset, load: the same map comes back byte for byte.
    saved = tmp_path / "map.mnoct"
    save = ros_node.create_client(SaveMemory, "/octree/save")
    assert call_service(ros_node, save, SaveMemory.Request(path=str(saved))).success
    assert saved.read_bytes().startswith(FORMAT_MAGIC)
    reset = ros_node.create_client(Trigger, "/octree/reset")
    assert call_service(ros_node, reset, Trigger.Request()).success
    assert list(_query(ros_node, query, "occupancy", [wall, ahead]).occupancy) == [-1, -1]
    load = ros_node.create_client(LoadMemory, "/octree/load")
    missing = call_service(ros_node, load, LoadMemory.Request(path=str(tmp_path / "none")))
    assert not missing.success and "unchanged" in missing.message
    loaded = call_service(ros_node, load, LoadMemory.Request(path=str(saved)))
    assert loaded.success and loaded.num_objects == 1, loaded.message
    assert list(_query(ros_node, query, "occupancy", [wall, ahead]).occupancy) == [1, 0]
    again = tmp_path / "again.mnoct"
    assert call_service(ros_node, save, SaveMemory.Request(path=str(again))).success
    assert again.read_bytes() == saved.read_bytes()
    assert SparseOctree.load(saved).occupancy([apple])[0] == 1

    # Clearing a box forgets the wall there.
    lo, hi = Point(x=1.9, y=-0.5, z=0.5), Point(x=2.2, y=0.5, z=1.5)
    clear = ros_node.create_client(ClearBox, "/octree/clear_box")
    cleared = call_service(ros_node, clear, ClearBox.Request(min_corner=lo, max_corner=hi))
    assert cleared.success, cleared.message
    assert _state(wall) == -1

    output = _stop(octree)
    assert "discrete rays" in output, output
    assert "cloud rejected" in output and "PointCloud2 data holds" in output, output
    assert "cloud is empty" in output and "non-finite" in output, output


def test_octree_node_inserts_depth_images_and_rejects_mismatched_camera_info(
    ros_node, start_octree
) -> None:
    # rays per point here; the cloud test runs the default, one ray per cell
    octree = start_octree(input="depth", depth_stride=1, discretize=False)
    depth_pub = ros_node.create_publisher(Image, "camera/depth/image_raw", 10)
    info_pub = ros_node.create_publisher(CameraInfo, "camera/color/camera_info", 10)
    pose_pub = ros_node.create_publisher(PoseStamped, "camera/pose", 10)
    query = ros_node.create_client(QuerySpace, "/octree/query_space")
    assert spin_until(ros_node, query.service_is_ready, 20.0), _log(octree)
    assert spin_until(ros_node, lambda: depth_pub.get_subscription_count() > 0, 10.0)

    intrinsics = CameraIntrinsics(64, 48, 40.0, 40.0, 32.0, 24.0)

    def _publish(depth: np.ndarray, encoding: str, stamp: float, info=intrinsics) -> None:
        header = Header(stamp=conversions.stamp_to_msg(stamp), frame_id="camera")
        info_msg = conversions.intrinsics_to_msg(info)
        info_msg.header = header
        depth_pub.publish(numpy_to_image(depth, encoding, header))
        info_pub.publish(info_msg)
        pose_pub.publish(_pose(stamp))
        spin_until(ros_node, lambda: False, 0.05)

    def _state(point) -> int:
        return _query(ros_node, query, "occupancy", [point]).occupancy[0]

    target = (2.05, 0.05, 1.05)
    deadline = time.monotonic() + 10.0
    while _state(target) != 1:  # repeated until the best-effort subscribers have matched
        assert time.monotonic() < deadline, _log(octree)
        _publish(np.full((48, 64), 2000, np.uint16), "16UC1", time.time())  # a wall 2 m ahead
        spin_until(ros_node, lambda: False, 0.2)
    assert _state((1.05, 0.05, 1.05)) == 0
    small = CameraIntrinsics(32, 24, 20.0, 20.0, 16.0, 12.0)
    _publish(np.full((48, 64), 1.0, np.float32), "32FC1", time.time() + 0.1, info=small)
    spin_until(ros_node, lambda: False, 0.3)
    assert _state((1.05, 0.05, 1.05)) == 0
    output = _stop(octree)
    assert "exact rays" in output, output
    assert "depth frame rejected" in output and "CameraInfo says 32x24" in output, output
