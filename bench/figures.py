"""``make bench``: the figures for the closing note, measured on held-out data in one run.

- intent accuracy on ``tests/nlu/nlu_test.yml`` (never trained on), through Rasa's /model/parse;
- FAQ retrieval hit@1 / MRR@10 on ``knowledge_base/eval/faq_eval_*.jsonl`` (written apart from the
  indexed paraphrases), for the hybrid retriever and its lexical-only and dense-only halves;
- statute search hit@10 / MRR@10 on ``knowledge_base/eval/laws_eval.jsonl`` (lay questions with known
  articles, written apart from the FAQ), beside BM25 alone and without the FAQ signal;
- topic accuracy / macro-F1 on the held-out topic split, beside a character-n-gram-only baseline;
- message latency p50/p95 through the REST channel (multi-turn conversations), start-up time and
  resident memory of each process;
- the same under 1, 10, 20 and 50 concurrent conversations (``bench_load``: p50/p95/p99, messages
  per second, errors), and vector retrieval at 1k-1M entries, exact against approximate
  (``bench_scale``). Both are also drawn: ``results/load.png``, ``results/retrieval_scale.png``.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import yaml

from bench.load import load_figures, real_style_scripts
from bench.load import plot as plot_load
from bench.stats import percentiles
from bot.settings import PROJECT_ROOT, get_settings

CONVERSATION = [
    "你好",
    "老板拖欠我三个月工资怎么办",
    "法律依据是什么",
    "我要申请法律援助",
    "1",
    "同意",
    "我叫王小明",
    "13812345678",
    "花石镇",
    "离婚了孩子抚养费对方不给怎么办",
    "转人工",
]


def _nlu_examples(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for block in data.get("nlu", []):
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            line = line.strip().removeprefix("- ").strip()
            if line:
                # strip entity annotations: [text](entity) or [text]{...}
                out.append((re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", line), block["intent"]))
    return out


def faq_figures() -> dict:
    from bot.composition import load_embedder
    from bot.knowledge import kb
    from bot.knowledge.laws import StatuteLibrary
    from bot.retrieval.faq import FaqIndex

    settings = get_settings()
    knowledge = kb.load(settings.knowledge_base_dir / "faq", StatuteLibrary.load(settings.laws_dir))
    embedder = load_embedder(settings)
    index = FaqIndex.build(knowledge, embedder)
    rows = [
        json.loads(line)
        for p in sorted((settings.knowledge_base_dir / "eval").glob("faq_eval_*.jsonl"))
        for line in p.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    queries = [r["query"] for r in rows]
    began = time.perf_counter()
    vectors = embedder.encode(queries, kind="query")
    variants = {"hybrid": index.thresholds.dense_weight, "lexical_only": 0.0, "dense_only": 1.0}
    out: dict = {"questions": len(rows), "entries": len(knowledge)}
    for name, weight in variants.items():
        index.thresholds = type(index.thresholds)(**{**index.thresholds.__dict__, "dense_weight": weight})
        ranks = []
        latencies = []
        for row, vec in zip(rows, vectors):
            t0 = time.perf_counter()
            hits = index.search(vec, row["query"], 10)
            latencies.append(time.perf_counter() - t0)
            ids = [h.entry.id for h in hits]
            ranks.append(ids.index(row["faq_id"]) + 1 if row["faq_id"] in ids else None)
        out[name] = {
            "hit@1": round(sum(r == 1 for r in ranks) / len(ranks), 4),
            "mrr@10": round(sum(1 / r for r in ranks if r) / len(ranks), 4),
            "search_ms_p50": round(1000 * statistics.median(latencies), 3),
        }
    t0 = time.perf_counter()
    for q in queries[:50]:
        embedder.encode([q], kind="query")
    out["embed_ms_per_query"] = round(1000 * (time.perf_counter() - t0) / 50, 2)
    out["total_s"] = round(time.perf_counter() - began, 1)
    return out


def real_style_figures() -> dict:
    """The yardstick: questions in citizens' own words (``knowledge_base/eval/real_style``), ranked and
    decided by the published index exactly as the bot does; thresholds were chosen on dev only, so
    test is the figure to report (dev is printed beside it)."""
    from bot.composition import load_embedder
    from bot.retrieval import evaluation
    from bot.retrieval.faq import FaqRetriever

    settings = get_settings()
    retriever = FaqRetriever(settings.faq_index_dir, load_embedder(settings))
    out: dict = {"embedding_model": retriever.index.model_name, "thresholds": retriever.index.thresholds.__dict__}
    for split in ("test", "dev"):
        questions = evaluation.read_questions(settings.knowledge_base_dir, split)
        began = time.perf_counter()
        judged = evaluation.judge(questions, retriever)
        out[split] = {
            **evaluation.figures(judged),
            "seconds": round(time.perf_counter() - began, 1),
            "mean_chars": round(sum(len(q.query) for q in questions) / max(1, len(questions)), 1),
        }
    return out


def _ranked(hits, relevant: set) -> int | None:
    keys = [(h.article.law, h.article.number) for h in hits]
    return next((i + 1 for i, key in enumerate(keys) if key in relevant), None)


def statute_figures() -> dict:
    """Statute search on lay questions with known articles (``knowledge_base/eval/laws_eval.jsonl``)."""
    from dataclasses import replace

    from bot.composition import load_embedder, load_statute_search

    settings = get_settings()
    search = load_statute_search(settings, load_embedder(settings))
    rows = [
        json.loads(line)
        for line in (settings.knowledge_base_dir / "eval" / "laws_eval.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    full = search.index.weights
    tfidf, rrf = _statute_baselines(search)
    variants = {
        "hybrid": lambda q: search.search(q, 10),
        "lexical_only": lambda q: search.index.lexical_search(q, 10),
        "without_faq": None,  # dense + lexical over the articles alone
        "baseline_tfidf_char": tfidf,
        "baseline_rrf_tfidf_e5": rrf,
    }
    out: dict = {"questions": len(rows), "articles": len(search.index)}
    for name, run in variants.items():
        if name == "without_faq":
            search.index.weights = replace(full, faq=0.0)
            run = lambda q: search.index.search(search._embedder.encode([q], kind="query")[0], q, 10)  # noqa: E731
        ranks, latencies = [], []
        for row in rows:
            t0 = time.perf_counter()
            hits = run(row["query"])
            latencies.append(time.perf_counter() - t0)
            ranks.append(_ranked(hits, {(a["law"], a["article"]) for a in row["articles"]}))
        search.index.weights = full
        out[name] = {
            "hit@1": round(sum(r == 1 for r in ranks) / len(ranks), 4),
            "hit@10": round(sum(r is not None for r in ranks) / len(ranks), 4),
            "mrr@10": round(sum(1 / r for r in ranks if r) / len(ranks), 4),
            "search_ms_p50": round(1000 * statistics.median(latencies), 2),
        }
    return out


def _statute_baselines(search):
    """Two plain baselines over the same articles: character tf-idf (1-2 grams) alone, and
    reciprocal-rank fusion (k=60) of that with E5 similarity."""
    from types import SimpleNamespace

    from sklearn.feature_extraction.text import TfidfVectorizer

    from bot.retrieval.statutes import _passage

    articles = search.index.articles
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    matrix = vectorizer.fit_transform([_passage(a) for a in articles])

    def hits(order) -> list:
        return [SimpleNamespace(article=articles[i]) for i in order[:10]]

    def tfidf_scores(q: str) -> np.ndarray:
        return (matrix @ vectorizer.transform([q]).T).toarray().ravel()

    def tfidf(q: str) -> list:
        return hits(np.argsort(-tfidf_scores(q)))

    def rrf(q: str) -> list:
        dense = search.index.articles_dense(search._embedder.encode([q], kind="query")[0], top=len(articles))
        fused = np.zeros(len(articles))
        for scores in (tfidf_scores(q), dense):
            ranks = np.empty(len(articles))
            ranks[np.argsort(-scores)] = np.arange(1, len(articles) + 1)
            fused += 1.0 / (60 + ranks)
        return hits(np.argsort(-fused))

    return tfidf, rrf


def topic_figures() -> dict:
    from bot.composition import load_embedder
    from bot.retrieval.embedding import HashingEmbedder
    from bot.retrieval.topics import TopicClassifier, evaluate, read_examples

    settings = get_settings()
    test = read_examples(settings.knowledge_base_dir / "topics" / "test.jsonl")
    real = evaluate(TopicClassifier.load(settings.topic_model_dir, load_embedder(settings)), test)
    baseline_model = TopicClassifier.train(
        read_examples(settings.knowledge_base_dir / "topics" / "train.jsonl"), HashingEmbedder()
    )
    baseline = evaluate(baseline_model, test)
    return {
        "test_examples": real["n"],
        "accuracy": round(real["accuracy"], 4),
        "macro_f1": round(real["macro_f1"], 4),
        "confident_share": round(real["confident_share"], 4),
        "confident_accuracy": round(real["confident_accuracy"], 4),
        "unsure_accuracy": round(real["unsure_accuracy"], 4),
        "lexical_baseline": {"accuracy": round(baseline["accuracy"], 4), "macro_f1": round(baseline["macro_f1"], 4)},
    }


def _warm_up_seconds(log: Path, timeout: float = 180) -> float:
    """How long the action server took to load its models after it started (its own log line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"warm_up_done seconds=([\d.]+)", log.read_text(errors="replace"))
        if found:
            return float(found.group(1))
        time.sleep(0.5)
    raise RuntimeError(f"the action server did not load its models within {timeout:.0f} s (see {log})")


def real_length_profile(rasa_url: str, texts: list[str]) -> dict:
    """One real-length question at a time, end to end and by stage.

    End to end: the REST webhook (Rasa's NLU and policies, the action server, the database) and
    Rasa's ``/model/parse`` alone. By stage, in this process with the serving settings (one thread):
    the query embedding, the FAQ index search, the topic classifier (on the shared embedding), and
    the statute search a ``none`` answer adds. The difference is Rasa, transport and the database.
    """
    import torch

    from bot.composition import load_embedder, load_statute_search
    from bot.retrieval.faq import FaqRetriever
    from bot.retrieval.topics import TopicClassifier
    from tests.support.stack import RASA_TOKEN

    settings = get_settings()
    webhook, parse = [], []
    for text in texts:
        sender = f"web:{uuid.uuid4()}"
        t0 = time.perf_counter()
        httpx.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
        webhook.append(1000 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        httpx.post(f"{rasa_url}/model/parse", params={"token": RASA_TOKEN}, json={"text": text}, timeout=60)
        parse.append(1000 * (time.perf_counter() - t0))
    torch.set_num_threads(max(1, settings.serving_threads))
    embedder = load_embedder(settings)
    index = FaqRetriever(settings.faq_index_dir, embedder).index
    topics = TopicClassifier.load(settings.topic_model_dir, embedder)
    statutes = load_statute_search(settings, embedder)
    stages: dict[str, list[float]] = {"embed": [], "faq_search": [], "topic": [], "statute_search": []}
    for text in texts:
        t0 = time.perf_counter()
        vector = embedder.encode([text], kind="query")[0]
        t1 = time.perf_counter()
        hits = index.search(vector, text, 10)
        t2 = time.perf_counter()
        topics.predict([text])
        t3 = time.perf_counter()
        statutes.search(text, k=3, faq_hits=hits)
        t4 = time.perf_counter()
        for name, took in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            stages[name].append(1000 * took)
    return {
        "questions": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
        "webhook_ms": percentiles(webhook),
        "rasa_parse_ms": percentiles(parse),
        "stages_ms": {name: percentiles(values, (50, 95)) for name, values in stages.items()},
    }


#: Intents the bot answers a question on (a low-confidence ``nlu_fallback`` goes to retrieval too).
QUESTION_INTENTS = frozenset({"ask_legal_question", "ask_followup", "ask_legal_basis", "nlu_fallback"})


def _intent(client: httpx.Client, rasa_url: str, text: str) -> str:
    """The intent Rasa's ``/model/parse`` gives ``text``."""
    from tests.support.stack import RASA_TOKEN

    return client.post(f"{rasa_url}/model/parse", params={"token": RASA_TOKEN}, json={"text": text}).json()["intent"][
        "name"
    ]


def real_style_intents(rasa_url: str, kb_dir: Path) -> dict:
    """What Rasa's NLU makes of the real-style questions. Each is a question, so each should reach
    retrieval: an ``emergency`` pauses the conversation with the hotlines, a request for a person
    hands it over, and a booking or an application starts a form instead of answering."""
    from bot.retrieval.evaluation import SPLITS, read_questions

    out: dict = {}
    with httpx.Client(timeout=30) as client:
        for split in SPLITS:
            intents = Counter(_intent(client, rasa_url, q.query) for q in read_questions(kb_dir, split))
            total = sum(intents.values())
            out[split] = {
                "questions": total,
                "to_retrieval": round(sum(n for i, n in intents.items() if i in QUESTION_INTENTS) / total, 4),
                "emergency": intents["emergency"],
                "intents": dict(intents.most_common()),
            }
    return out


def stack_figures() -> dict:
    from bot.retrieval.evaluation import read_questions
    from tests.support.stack import RASA_TOKEN, Stack

    stack = Stack(Path(tempfile.mkdtemp(prefix="bench-")))
    try:
        startup = stack.start_all()
        examples = _nlu_examples(PROJECT_ROOT / "tests" / "nlu" / "nlu_test.yml")
        with httpx.Client(timeout=30) as client:
            predicted = [(intent, _intent(client, stack.rasa_url, text)) for text, intent in examples]
        correct = sum(intent == got for intent, got in predicted)
        emergencies = [got == "emergency" for intent, got in predicted if intent == "emergency"]
        kb_dir = PROJECT_ROOT / "knowledge_base"
        intents_of_real_style = real_style_intents(stack.rasa_url, kb_dir)
        startup["actions_models"] = _warm_up_seconds(stack.tmp / "actions.log")
        # the action server loaded its services at start; the first answer shows what is still cold
        t0 = time.perf_counter()
        stack.say("web:warmup", "老板不发工资怎么办")
        first_answer_s = time.perf_counter() - t0
        latencies = []
        for _ in range(5):
            sender = f"web:{uuid.uuid4()}"
            for text in CONVERSATION:
                t0 = time.perf_counter()
                stack.say(sender, text)
                latencies.append(1000 * (time.perf_counter() - t0))
        rss_idle = {name: round(stack.rss_mb(name), 1) for name in ("actions", "rasa")}
        profiled = [q.query for q in read_questions(kb_dir, "test")][:60]
        one_at_a_time = real_length_profile(stack.rasa_url, profiled)
        # the profile's questions are now in the caches: the load asks the others
        scripts = real_style_scripts(kb_dir, exclude=frozenset(profiled))
        load = {
            "real_style": load_figures(stack.rasa_url, scripts=scripts, token=RASA_TOKEN),
            "short": load_figures(stack.rasa_url, token=RASA_TOKEN),
        }
        plot_load(load, PROJECT_ROOT / "results" / "load.png")
        return {
            "intent_accuracy": round(correct / len(examples), 4),
            "intent_test_examples": len(examples),
            "emergency_recall": f"{sum(emergencies)}/{len(emergencies)}",
            "real_style_intents": intents_of_real_style,
            "rest_latency_ms": {**percentiles(latencies, (50, 95)), "messages": len(latencies)},
            "startup_s": {**{k: round(v, 1) for k, v in startup.items()}, "first_answer": round(first_answer_s, 1)},
            "rss_mb": rss_idle,
            "rss_mb_after_load": {name: round(stack.rss_mb(name), 1) for name in ("actions", "rasa")},
            "real_length_profile": one_at_a_time,
            "load": load,
        }
    finally:
        stack.stop_all()


def main() -> None:
    from bench import scale as bench_scale

    out = PROJECT_ROOT / "results"
    out.mkdir(exist_ok=True)
    results = {
        "real_style": real_style_figures(),
        "faq": faq_figures(),
        "statutes": statute_figures(),
        "topics": topic_figures(),
        "stack": stack_figures(),
    }
    results["retrieval_scale"] = bench_scale.scale_figures()
    bench_scale.plot(results["retrieval_scale"], out / "retrieval_scale.png")
    (out / "bench.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
