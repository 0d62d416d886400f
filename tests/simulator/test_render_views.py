"""The side-by-side RGB | depth | segmentation PNG."""

from __future__ import annotations

from PIL import Image

from sim.render_views import main, render_views


def test_render_views_writes_three_panels_side_by_side(tmp_path):
    path = render_views("FloorPlan1", tmp_path / "views.png", width=64, height=48)
    with Image.open(path) as image:
        assert image.size == (3 * 64, 48)


def test_render_views_cli_accepts_scene_and_out(tmp_path):
    out = tmp_path / "cli.png"
    assert (
        main(["--scene", "FloorPlan201", "--out", str(out), "--width", "40", "--height", "30"]) == 0
    )
    assert out.exists()
