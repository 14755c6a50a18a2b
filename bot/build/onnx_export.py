"""ONNX copies of a sentence-transformers folder, for fast single-thread CPU serving.

``legal-triage model export`` (part of ``make model``) exports the folder's transformer to ONNX
with torch's exporter (``onnx/model_fp32.onnx``: the float model, backend ``onnx``) and quantises
its weights dynamically to int8 with ONNX Runtime (``onnx/model_int8.onnx``, backend ``onnx-int8``,
served by default). Per channel: per-tensor scales cost about one point of cosine with the float
model. The feed-forward down-projections (``layer.N/output/dense``, one per layer) stay float: the
twelve of them hold most of the error. Quantising every MatMul embeds a 58-character question in
12 ms on one thread (float: 28 ms) but moved statute search (5 points lower at hit@1); keeping them
float costs 6 ms (18 ms) and keeps every ranking figure within 0.01 of the float model's (cosine
0.9993 on average on 150 real-style dev questions, against 0.998). Both files are served by
:class:`bot.retrieval.embedding.OnnxEmbedder`, chosen by ``LEGAL_TRIAGE_EMBEDDING_BACKEND``.
Everything is read from the local folder: nothing is downloaded. ``onnx/export_manifest.json``
names the source (its model name and the sha256 of its weights) and the export is skipped while
that is unchanged; rebuilding or fine-tuning a model replaces its folder, and so drops a stale
export with it.

Only the pipeline the ONNX embedder reproduces is exported: transformer, mean pooling over every
token (the prompt included), L2 normalisation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import shutil
import tempfile
import time
from pathlib import Path

from bot.retrieval.embedding import ONNX_DIR as EXPORT_DIR
from bot.retrieval.embedding import ONNX_FILE as MODEL_FILE
from bot.retrieval.embedding import ONNX_FP32_FILE as FLOAT_FILE
from bot.retrieval.embedding import ONNX_MANIFEST as MANIFEST
from bot.retrieval.embedding import model_name, onnx_manifest

# Bump when the export changes (opset, quantisation, inputs), so old exports are redone.
EXPORT_FORMAT = 3  # 2: the float export is kept beside the int8 one; 3: FFN down-projections stay float
OPSET = 17
QUANTISATION = "onnxruntime quantize_dynamic: QInt8 weights, per channel, FFN down-projections float"


def export_folder(model_path: str | Path) -> Path:
    return Path(model_path) / EXPORT_DIR


def source_of(model_path: str | Path) -> dict:
    """What an export is made from: the model's name, its weights' sha256 and the export format."""
    weights = _weights_file(Path(model_path))
    digest = hashlib.sha256()
    with weights.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"source": model_name(str(model_path)), "weights_sha256": digest.hexdigest(), "format": EXPORT_FORMAT}


def is_current(model_path: str | Path) -> bool:
    manifest = onnx_manifest(model_path)
    return (export_folder(model_path) / MODEL_FILE).is_file() and all(
        manifest.get(key) == value for key, value in source_of(model_path).items()
    )


def export_onnx(model_path: str | Path, progress: bool = False) -> tuple[bool, dict]:
    """Export and quantise ``model_path`` unless its export is current; returns (exported, manifest)."""
    model_path = Path(model_path)
    if is_current(model_path):
        return False, onnx_manifest(model_path)
    _check_pipeline(model_path)

    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tqdm import tqdm
    from transformers import AutoModel, AutoTokenizer

    started = time.perf_counter()
    source = source_of(model_path)
    target = export_folder(model_path)
    staging = Path(tempfile.mkdtemp(prefix=f".{EXPORT_DIR}.", dir=model_path))
    bar = tqdm(total=3, desc="ONNX export", unit="step", disable=not progress)
    try:
        bar.set_postfix_str("export to ONNX (float32)")
        model = AutoModel.from_pretrained(
            str(model_path), local_files_only=True, attn_implementation="eager", dtype=torch.float32
        ).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        sample = tokenizer(["query: 老板拖欠工资怎么办", "passage: 劳动者"], padding=True, return_tensors="pt")
        float_file = staging / FLOAT_FILE
        axes = {0: "batch", 1: "tokens"}
        with torch.no_grad():
            torch.onnx.export(
                _last_hidden_state(model),
                (sample["input_ids"], sample["attention_mask"]),
                str(float_file),
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
                opset_version=OPSET,
            )
        del model
        bar.update()
        bar.set_postfix_str("quantise to int8")
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantiser logs a line per tensor on the root logger
        try:
            quantize_dynamic(
                float_file,
                staging / MODEL_FILE,
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=_kept_float(float_file),
            )
        finally:
            root.setLevel(level)
        bar.update()
        bar.set_postfix_str("check")
        for file in (FLOAT_FILE, MODEL_FILE):
            onnxruntime.InferenceSession(str(staging / file), providers=["CPUExecutionProvider"])
        manifest = {
            **source,
            "file": MODEL_FILE,
            "float_file": FLOAT_FILE,
            "quantisation": QUANTISATION,
            "opset": OPSET,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "seconds": round(time.perf_counter() - started, 1),
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        staging.chmod(0o755)
        old = model_path / f".{EXPORT_DIR}.old"
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        bar.update()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        bar.close()
    return True, manifest


def _last_hidden_state(model):
    """The transformer as a module of two tensors in, one out (what the exporter traces)."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return LastHiddenState()


def _kept_float(float_file: Path) -> list[str]:
    """The feed-forward down-projections of a BERT-style export (``/model/encoder/layer.N/output/dense``)."""
    import onnx

    graph = onnx.load(str(float_file), load_external_data=False).graph
    names = [n.name for n in graph.node if n.op_type == "MatMul" and re.search(r"/layer\.\d+/output/dense/", n.name)]
    if not names:
        raise ValueError(f"{float_file}: no feed-forward down-projection found to keep float")
    return names


def _weights_file(model_path: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_path / name).is_file():
            return model_path / name
    raise FileNotFoundError(f"{model_path}: no model.safetensors or pytorch_model.bin")


def _check_pipeline(model_path: Path) -> None:
    """Refuse a model whose sentence-transformers pipeline the ONNX embedder would not reproduce."""
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((model_path / "modules.json").read_text())]
    pooling = json.loads((model_path / "1_Pooling" / "config.json").read_text())
    modes = {key for key, value in pooling.items() if key.startswith("pooling_mode_") and value}
    if modules != ["Transformer", "Pooling", "Normalize"] or modes != {"pooling_mode_mean_tokens"}:
        raise ValueError(f"{model_path}: only Transformer -> mean Pooling -> Normalize models can be exported")
    if not pooling.get("include_prompt", True):
        raise ValueError(f"{model_path}: pooling without the prompt tokens is not supported by the export")
