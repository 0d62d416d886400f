"""Top-down map pictures: drawn from a synthetic map and from a simulator scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memory_nodes.core.octree import SparseOctree
from memory_nodes.core.scene_graph import EdgeType, Layer, SceneGraph
from memory_nodes.core.types import Box, Pose, Vector3
from memory_nodes.viz import map_views


def _room_octree() -> SparseOctree:
    """A 4 x 3 m room seen from its centre: walls 0-2.5 m high, a 0.9 m table."""
    octree = SparseOctree(resolution=0.1)
    xs, ys, zs = np.arange(-2, 2, 0.05), np.arange(-1.5, 1.5, 0.05), np.arange(0.0, 2.5, 0.05)
    walls = []
    for x in (-1.98, 1.98):
        gy, gz = np.meshgrid(ys, zs)
        walls.append(np.column_stack([np.full(gy.size, x), gy.ravel(), gz.ravel()]))
    for y in (-1.48, 1.48):
        gx, gz = np.meshgrid(xs, zs)
        walls.append(np.column_stack([gx.ravel(), np.full(gx.size, y), gz.ravel()]))
    tx, ty = np.meshgrid(np.arange(0.5, 1.2, 0.05), np.arange(-0.3, 0.3, 0.05))
    table = np.column_stack([tx.ravel(), ty.ravel(), np.full(tx.size, 0.9)])
    points = np.vstack([w.reshape(-1, 3) for w in walls] + [table])
    octree.insert_point_cloud(points, [0.0, 0.0, 1.2])
    return octree


def _graph() -> SceneGraph:
    graph = SceneGraph()
    at_table, at_mug = Vector3(0.85, 0.0, 0.45), Vector3(0.8, 0.1, 0.95)
    table = graph.add_node(Layer.FURNITURE, "DiningTable", world_T_object=Pose(at_table),
                           box=Box(at_table, Vector3(0.7, 0.6, 0.9)), stamp=1.0)  # fmt: skip
    mug = graph.add_node(Layer.OBJECT, "Mug", world_T_object=Pose(at_mug),
                         box=Box(at_mug, Vector3(0.1, 0.1, 0.1)), stamp=1.0)  # fmt: skip
    if not graph.has_edge(mug, table, EdgeType.ON):
        graph.add_edge(mug, table, EdgeType.ON, stamp=1.0)
    return graph


def _colours(path: Path) -> int:
    image = np.asarray(Image.open(path).convert("RGB"))
    return len(np.unique(image.reshape(-1, 3), axis=0))


def test_map_layers_mark_walls_occupied_and_the_inside_free() -> None:
    layers = map_views.map_layers(_room_octree(), z_band=(0.1, 1.8))
    x0, _, y0, _ = layers.extent
    cell = lambda x, y: (int((y - y0) / 0.1), int((x - x0) / 0.1))  # noqa: E731
    assert layers.projection[cell(1.95, 0.05)] == 1  # wall
    assert layers.projection[cell(-1.0, 0.05)] == 0  # open floor space
    assert abs(layers.top_height[cell(0.85, 0.05)] - 0.95) < 1e-6  # the table top's cell centre
    assert np.isnan(layers.top_height[cell(-1.0, 0.05)])


@pytest.mark.slow
def test_render_map_writes_a_picture_with_graph_and_path(tmp_path: Path) -> None:
    out = map_views.render_map(
        _room_octree(),
        tmp_path / "sub" / "room.png",
        graph=_graph(),
        paths=[np.array([[0.0, 0.0], [-1.0, 0.5], [-1.2, -0.8]])],
        title="synthetic room",
    )
    assert out.is_file() and out.stat().st_size > 20_000
    assert _colours(out) > 20  # grid, height colours, labels: not a blank image


def test_render_map_of_an_empty_octree_still_writes_a_picture(tmp_path: Path) -> None:
    out = map_views.render_map(SparseOctree(), tmp_path / "empty.png")
    assert out.is_file() and Image.open(out).size[0] > 100


def test_spread_positions_starts_near_the_agent_and_spreads_out() -> None:
    candidates = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [2.5, 0.0]])
    assert map_views.spread_positions(candidates, np.array([0.05, 0.0]), 3) == [0, 2, 3]


@pytest.mark.slow
def test_map_views_cli_maps_a_simulator_scene(tmp_path: Path, capsys) -> None:
    out = tmp_path / "map.png"
    argv = ["--scene", "FloorPlan1", "--out", str(out), "--positions", "1", "--horizons", "30",
            "--width", "96", "--height", "72", "--resolution", "0.1"]  # fmt: skip
    assert map_views.main(argv) == 0
    assert out.is_file() and out.stat().st_size > 20_000 and _colours(out) > 20
    assert "4 frames" in capsys.readouterr().out
