"""Single-thread latency of embedding one real-style question, per embedding backend.

``python -m bench.embedding_latency [--runs 300] [--backends torch onnx onnx-int8]`` embeds one
~60-character Chinese question (from the dev split's style) ``runs`` times after a warm-up, on ONE
thread (``torch.set_num_threads(1)``; ONNX Runtime ``intra_op_num_threads=1``), bypassing the
embedder's cache of single questions, and prints p50/p95 in milliseconds as JSON. The ONNX backends
need ``legal-triage model export`` first.
"""

from __future__ import annotations

import argparse
import json
import time

from bench.stats import percentiles

QUESTION = (
    "砖厂老板欠了我们二十多个人一年的工钱，劳动监察下了限期支付通知他也不理，"
    "还把厂里设备偷偷拉走卖了，这种能让公安抓他吗"
)


def measure(backend: str, runs: int, warmup: int = 20) -> dict:
    import torch

    from bot.retrieval.embedding import embedder_for
    from bot.settings import get_settings

    torch.set_num_threads(1)
    embedder = embedder_for(get_settings().embedding_model_path, backend, threads=1)
    for _ in range(warmup):
        embedder._encode([QUESTION], "query")  # the uncached path: every call embeds
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        embedder._encode([QUESTION], "query")
        times.append((time.perf_counter() - start) * 1000)
    return {
        "backend": backend,
        "embedder": embedder.name,
        "chars": len(QUESTION),
        "runs": runs,
        **percentiles(times, (50, 95), digits=2, suffix="_ms"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8"])
    args = parser.parse_args()
    for backend in args.backends:
        print(json.dumps(measure(backend, args.runs)), flush=True)


if __name__ == "__main__":
    main()
