"""Instance masks to the polygons of a YOLO segmentation label, and back.

A label line is ``class x1 y1 x2 y2 ...`` with coordinates divided by the image width and
height. One instance is one polygon, but an occluded object is often seen in pieces: the
pieces are joined into one polygon by a two-way cut from each piece to the next (the
``merge_multi_segment`` scheme of ultralytics' COCO converter), which a polygon fill turns back
into the pieces plus the one-pixel cuts. Vertices are pixel indices of the mask's outer boundary,
so filling the polygon with OpenCV gives back every pixel of the mask (holes are filled: a
polygon has none).
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from memory_nodes.core.errors import InvalidInputError


def mask_pieces(mask: np.ndarray, min_piece_pixels: int = 1) -> list[np.ndarray]:
    """Outer boundaries (``(n, 2)`` int arrays of x, y pixel indices) of a mask's pieces.

    Pieces smaller than ``min_piece_pixels`` (stray pixels at an occluder's edge) are dropped.
    The order is the largest piece first, ties by position, so labels are deterministic.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InvalidInputError(f"a mask must be 2-D, got shape {mask.shape}")
    image = np.ascontiguousarray(mask, dtype=np.uint8)
    count, components, stats, _ = cv2.connectedComponentsWithStats(image, connectivity=8)
    pieces: list[tuple[int, int, int, np.ndarray]] = []
    for label in range(1, count):
        area = int(stats[label, cv2.CC_STAT_AREA])
        if area < min_piece_pixels:
            continue
        piece = (components == label).astype(np.uint8)
        contours, _ = cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        outline = max(contours, key=len).reshape(-1, 2)
        top, left = int(stats[label, cv2.CC_STAT_TOP]), int(stats[label, cv2.CC_STAT_LEFT])
        pieces.append((-area, top, left, outline))
    pieces.sort(key=lambda item: item[:3])
    return [outline for *_, outline in pieces]


def _arc(piece: np.ndarray, start: int, stop: int, full_when_equal: bool) -> np.ndarray:
    """Vertices of a closed outline from ``start`` forwards to ``stop``, both included."""
    steps = (stop - start) % len(piece)
    if full_when_equal and steps == 0:
        steps = len(piece)
    return piece[(start + np.arange(steps + 1)) % len(piece)]


def join_pieces(pieces: list[np.ndarray]) -> np.ndarray:
    """One polygon through all pieces: out along a cut to each next piece, back the same way.

    Each cut joins the nearest vertices of two consecutive pieces. The walk goes forwards
    through the first part of every outline to its cut, round the last piece, then back through
    the rest of each outline, so every outline is walked once and every cut twice (no area).
    """
    if not pieces:
        raise InvalidInputError("no polygon pieces to join")
    exits, entries = [], [0]
    for previous, piece in itertools.pairwise(pieces):
        distances = ((previous[:, None, :] - piece[None, :, :]) ** 2).sum(-1)
        exit_index, entry_index = np.unravel_index(int(np.argmin(distances)), distances.shape)
        exits.append(int(exit_index))
        entries.append(int(entry_index))
    last = len(pieces) - 1
    path = [_arc(pieces[i], entries[i], exits[i], full_when_equal=False) for i in range(last)]
    path.append(_arc(pieces[last], entries[last], entries[last], full_when_equal=True))
    path += [
        _arc(pieces[i], exits[i], entries[i], full_when_equal=True) for i in range(last - 1, -1, -1)
    ]
    polygon = np.concatenate(path)
    return polygon[:-1] if len(pieces) == 1 else polygon


def mask_to_polygon(mask: np.ndarray, min_piece_pixels: int = 1) -> np.ndarray | None:
    """The label polygon of one instance mask (pixel indices), or None when nothing is left."""
    pieces = mask_pieces(mask, min_piece_pixels)
    if not pieces:
        return None
    return join_pieces(pieces)


def polygon_to_mask(polygon: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Fill a polygon of pixel coordinates into a boolean image (the inverse of the above)."""
    canvas = np.zeros(image_shape, dtype=np.uint8)
    points = np.round(np.asarray(polygon, dtype=float)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(canvas, [points], 1)  # as ultralytics rasterises a label for training
    return canvas.astype(bool)


def label_line(class_index: int, polygon: np.ndarray, width: int, height: int) -> str:
    """``class x1 y1 ...`` with coordinates divided by the image size (6 decimals)."""
    scaled = np.asarray(polygon, dtype=float) / np.array([width, height], dtype=float)
    coordinates = " ".join(f"{value:.6f}" for value in scaled.ravel())
    return f"{class_index} {coordinates}"


def parse_label_line(line: str, width: int, height: int) -> tuple[int, np.ndarray]:
    """The class index and the pixel-coordinate polygon of one label line."""
    fields = line.split()
    if len(fields) < 7 or (len(fields) - 1) % 2:
        raise InvalidInputError(f"a segmentation label needs a class and >= 3 points: {line!r}")
    points = np.array([float(v) for v in fields[1:]], dtype=float).reshape(-1, 2)
    return int(fields[0]), points * np.array([width, height], dtype=float)
