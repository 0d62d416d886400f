"""Where instance masks come from: the simulator's segmentation, or a detector.

Both backends return :class:`Instance` lists, so the rest of perception does not care which one
runs. The mask backend is the default (AI2-THOR and our simulator render instance masks); the
YOLO backend runs an ultralytics segmentation model from a local weights file.

The mask backend has two modes. ``gt_mask`` (the reference) hands on the simulator's objectId
of every instance, so fusion is told which object it sees. ``class_masks``
(:class:`ClassMaskBackend`) is a perfect semantic segmenter: each instance is still separate,
but only its type is known (``instance_key`` empty), as from a detector.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from memory_nodes.core.errors import DependencyNotInstalledError, InvalidInputError
from memory_nodes.core.object_taxonomy import STRUCTURE_TYPES
from memory_nodes.core.torch_runtime import hide_triton
from memory_nodes.perception.frames import RGBDFrame

_SLICE_SUFFIX = re.compile(r"_\d+$")
# Instance ids below this are grouped through a lookup table, larger ones through np.isin.
_ID_TABLE_LIMIT = 1 << 20


@dataclass(frozen=True, eq=False)
class Instance:
    """One object instance in an image: its pixels, type, the source's key for it, a score.

    ``pixels`` are flat indices into the ``image_shape`` image (row-major), ascending: the
    extractor needs only the instance's pixels, and a list of them costs far less to make than
    a full-image mask per instance. :attr:`mask` gives the image when one is wanted.
    """

    pixels: np.ndarray
    image_shape: tuple[int, int]
    object_type: str
    instance_key: str
    score: float

    @classmethod
    def from_mask(
        cls, mask: np.ndarray, object_type: str, instance_key: str, score: float
    ) -> Instance:
        """An instance from a boolean image (a detector's mask)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 2:
            raise InvalidInputError(f"an instance mask must be 2-D, got shape {mask.shape}")
        return cls(np.flatnonzero(mask), mask.shape, object_type, instance_key, score)

    @property
    def mask(self) -> np.ndarray:
        mask = np.zeros(self.image_shape[0] * self.image_shape[1], dtype=bool)
        mask[self.pixels] = True
        return mask.reshape(self.image_shape)


class InstanceBackend(Protocol):
    name: str

    def detect(self, frame: RGBDFrame) -> list[Instance]: ...


def object_type_from_label(label: str) -> str:
    """AI2-THOR objectId -> object type.

    ``"Apple|+01.00|+00.90|-00.50"`` is an Apple; a slice keeps its parent's id and appends its
    own name, ``"Apple|...|-00.50|AppleSliced_0"``, and is an AppleSliced. A label without ``|``
    is taken as the type itself (structure such as ``"Floor"`` or ``"Wall"``).
    """
    if not label:
        raise InvalidInputError("empty instance label")
    parts = label.split("|")
    if len(parts) > 4:
        return _SLICE_SUFFIX.sub("", parts[-1])
    return parts[0]


class MaskBackend:
    """Instances from a rendered instance-id image and its id -> label map.

    Parameters
    ----------
    min_pixels
        Instances with fewer pixels are dropped.
    ignore_types
        Types left out (by default the building's structure, which the octree maps).
    keep_ids
        True (the reference, ``gt_mask``): each instance carries the simulator's objectId.
        False (``class_masks``): the id is dropped and only the type is kept, so memory must
        tell objects apart from where and how they are seen.
    """

    name = "gt_mask"

    def __init__(
        self,
        min_pixels: int = 30,
        ignore_types: frozenset[str] | None = None,
        keep_ids: bool = True,
    ) -> None:
        if min_pixels < 1:
            raise InvalidInputError(f"min_pixels must be >= 1, got {min_pixels}")
        self.min_pixels = min_pixels
        self.keep_ids = keep_ids
        if not keep_ids:
            self.name = "class_masks"
        # Structure is mapped by the octree, not remembered as objects.
        self.ignore_types = ignore_types or STRUCTURE_TYPES

    def detect(self, frame: RGBDFrame) -> list[Instance]:
        if frame.instance_ids is None:
            raise InvalidInputError("the mask backend needs a frame with an instance mask")
        ids = frame.instance_ids.ravel()
        wanted = self._wanted_ids(frame)
        if not wanted or ids.size == 0:
            return []
        # One pass picks the pixels of every wanted id and one stable sort groups them
        # (ascending ids, ascending pixels), instead of a full-image comparison per instance.
        low, high = int(ids.min()), int(ids.max())
        wanted_array = np.fromiter(wanted, np.int64, len(wanted))
        if low >= 0 and high < _ID_TABLE_LIMIT:
            table = np.zeros(high + 1, dtype=bool)
            table[wanted_array[(wanted_array >= 0) & (wanted_array <= high)]] = True
            pixels = np.flatnonzero(table[ids])
        else:
            pixels = np.flatnonzero(np.isin(ids, wanted_array))
        pixel_ids = ids[pixels]
        if low >= 0 and high < 1 << 16:
            pixel_ids = pixel_ids.astype(np.uint16)  # a stable sort of 16-bit keys is a radix sort
        order = np.argsort(pixel_ids, kind="stable")
        grouped_ids = pixel_ids[order]
        starts = np.flatnonzero(grouped_ids[1:] != grouped_ids[:-1]) + 1
        bounds = [0, *starts.tolist(), len(order)]
        shape = frame.instance_ids.shape
        instances = []
        for start, end in itertools.pairwise(bounds):
            if end - start < self.min_pixels:
                continue
            label = frame.instance_labels[int(grouped_ids[start])]
            object_type = object_type_from_label(label)
            if object_type in self.ignore_types:
                continue
            key = label if self.keep_ids else ""
            instances.append(Instance(pixels[order[start:end]], shape, object_type, key, 1.0))
        return instances

    def _wanted_ids(self, frame: RGBDFrame) -> set[int]:
        """Named ids other than 0 whose type memory keeps (structure is left out before the
        pixels are grouped; an empty label is kept so that it is refused if its pixels count)."""
        wanted = set()
        for instance_id, label in frame.instance_labels.items():
            if instance_id == 0 or (label and object_type_from_label(label) in self.ignore_types):
                continue
            wanted.add(int(instance_id))
        return wanted


class ClassMaskBackend(MaskBackend):
    """The rendered instance mask with ids and names replaced by the object type.

    A perfect semantic segmenter: instances stay separate, their types are right, and nothing
    says which physical object each one is.
    """

    name = "class_masks"

    def __init__(self, min_pixels: int = 30, ignore_types: frozenset[str] | None = None) -> None:
        super().__init__(min_pixels, ignore_types, keep_ids=False)


class YoloBackend:
    """Instances from an ultralytics YOLO segmentation model loaded from a local file.

    Parameters
    ----------
    weights
        Path to a ``.pt`` file (trained weights) or a model ``.yaml`` (an untrained network,
        useful only to exercise the pipeline). Nothing is downloaded: ``YOLO_OFFLINE`` is set.
    min_score
        Detections below this confidence are dropped.
    """

    name = "yolo"

    def __init__(self, weights: str | Path, min_score: float = 0.25, device: str = "cpu") -> None:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        weights = Path(weights)
        if not weights.is_file():
            raise FileNotFoundError(f"YOLO weights not found: {weights} (give a local file)")
        hide_triton()  # see core/torch_runtime.py
        try:
            from ultralytics import YOLO
        except ImportError as error:
            raise DependencyNotInstalledError(
                "the YOLO backend needs ultralytics: pip install ultralytics"
            ) from error
        self.model = YOLO(str(weights))
        self.min_score = min_score
        self.device = device

    def detect(self, frame: RGBDFrame) -> list[Instance]:
        # ultralytics expects BGR like OpenCV.
        results = self.model.predict(
            frame.rgb[..., ::-1], device=self.device, verbose=False, retina_masks=True
        )
        instances = []
        for result in results:
            if result.masks is None or result.boxes is None:
                continue
            masks = result.masks.data.cpu().numpy() > 0.5
            classes = result.boxes.cls.cpu().numpy().astype(int)
            scores = result.boxes.conf.cpu().numpy()
            for mask, cls, score in zip(masks, classes, scores, strict=True):
                if score < self.min_score or mask.shape != frame.depth.shape:
                    continue
                instances.append(
                    Instance.from_mask(mask, str(result.names[int(cls)]), "", float(score))
                )
        return instances
