"""The knowledge base: add files and folders, search them (keyword + vector, fused), list and remove them.

Everything but the vectors lives in one SQLite file (by default the app's own database file): the documents with
their content hashes, the chunks, and the BM25 index. The vectors live in a :class:`VectorStore` — sqlite-vec in
the same file, or Qdrant. Hybrid search runs BM25 (jieba-segmented) and vector search and fuses the two rankings
into one ranking (:func:`fuse`): by default a convex combination of the cosine similarity and of the BM25 score
measured against the query's ideal keyword score, or by reciprocal rank fusion.
"""

from __future__ import annotations

import fnmatch
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ... import sqlite_driver
from ...errors import AutoGLMError, NotFound
from ...language import script
from .catalog import Catalog, DocumentInfo, connect
from .chunking import Chunk, Chunker
from .config import KnowledgeConfig
from .documents import UnreadableFile, read_blocks
from .ingest import FileError, IngestReport, Record, sha256, under, walk
from .language import LanguageDirection
from .vectors import VectorStore, vector_stores

if TYPE_CHECKING:
    from ...config import Settings
    from ...embeddings import Embedder

Mode = Literal["hybrid", "keyword", "vector"]
EMBED_BATCH = 64  # chunks per embedding call during ingestion


@dataclass
class _Parsed:
    """A file read and chunked, waiting for its vectors."""

    source: str
    digest: str
    size: int
    existing: DocumentInfo | None
    chunks: list[Chunk]
    name: str | None = None  # cited as (default: the file name)
    type: str | None = None  # default: the file extension


class SearchFilter(BaseModel):
    """Limit a search to some documents."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(default=None, description="glob on the file path or name, or a folder, e.g. '*.pdf'")
    types: list[str] | None = Field(default=None, description="file types, e.g. ['pdf', 'md']")


class SearchHit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    name: str
    position: str
    score: float
    text: str
    heading: str = ""
    chunk_id: int
    keyword_rank: int | None = None
    vector_rank: int | None = None
    relevance: float = Field(default=0.0, description="how well this passage matches the query, 0-1: see relevance()")

    @property
    def citation(self) -> str:
        return f"{self.name} ({self.position})"


class KnowledgeBase:
    def __init__(
        self,
        path: str | Path,
        embedder: Embedder,
        *,
        config: KnowledgeConfig | None = None,
        vectors: VectorStore | None = None,
        reindex: bool = False,
    ) -> None:
        """``reindex=True`` opens a base built with another embedder, dropping its vectors: call :meth:`reindex`."""
        self.config = config or KnowledgeConfig()
        self.path = str(path)
        self.embedder = embedder
        self.lock = threading.RLock()
        self.conn = connect(path)
        self.chunker = Chunker(self.config.chunk_chars, self.config.chunk_overlap)
        # The store's migrations may be creating their tables in this same file right now: one schema change at
        # a time (sqlite_driver.schema_lock), or one side's write fails at once with "database is locked".
        with sqlite_driver.schema_lock(path):
            self.catalog = Catalog(self.conn, self.lock)
            if not reindex:
                self._check_embedder()
            self.vectors = vectors or self._vector_store(reset=reindex)
        self._language = LanguageDirection(self.catalog, self.vectors, self.embedder.dim)

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder | None = None) -> KnowledgeBase:
        from ...embeddings import make_embedder

        return cls(kb_path(settings), embedder or make_embedder(settings.embeddings), config=settings.knowledge)

    def _vector_store(self, reset: bool = False) -> VectorStore:
        store = vector_stores.get(self.config.backend)
        return store.from_config(self.config, dim=self.embedder.dim, conn=self.conn, lock=self.lock, reset=reset)

    def _check_embedder(self) -> None:
        known = self.catalog.info("embedder")
        if known is None:
            self.catalog.set_info("embedder", self.embedder.name)
            self.conn.commit()
        elif known != self.embedder.name and self.catalog.count_chunks():
            raise _EmbedderChanged(known, self.embedder.name)

    # -- ingestion ----------------------------------------------------------------------------------------------

    def add(self, paths: Iterable[str | Path], *, progress: bool = False,
            on_error: Callable[[FileError], None] | None = None) -> IngestReport:
        """Ingest files and folders. Unchanged files (same content hash) are skipped, changed ones re-ingested,
        files gone from an added folder removed. A file that cannot be read is reported; the rest go on."""
        started = time.perf_counter()
        report = IngestReport()
        files: list[Path] = []
        roots: list[Path] = []
        gone: list[str] = []
        for raw in paths:
            p = Path(raw).expanduser().resolve()
            if p.is_dir():
                roots.append(p)
                files.extend(walk(p))
            elif p.is_file():
                files.append(p)
            elif self.catalog.document(str(p)) is not None:
                gone.append(str(p))  # an ingested file that was deleted
            else:
                self._fail(report, FileError(str(p), "no such file or folder"), on_error)
        seen = {str(f) for f in files}
        for doc in self.catalog.documents():
            if doc.source not in seen and any(under(doc.source, r) for r in roots):
                gone.append(doc.source)
        for source in dict.fromkeys(gone):
            self._remove(source)
            report.removed.append(source)

        bar = _progress(len(files)) if progress and files else None
        pending: list[_Parsed] = []
        try:
            for path in dict.fromkeys(files):
                if bar is not None:
                    bar.advance(path.name)
                parsed = self._parse(path, report, on_error)
                if parsed is not None:
                    pending.append(parsed)
                # Embedding calls have a fixed cost each: embed several small files' chunks together.
                if sum(len(p.chunks) for p in pending) >= EMBED_BATCH:
                    self._store(pending, report, on_error)
                    pending = []
            self._store(pending, report, on_error)
        finally:
            if bar is not None:
                bar.close()
        self._finish(report, started)
        return report

    def sync_records(self, records: Iterable[Record], owns: Callable[[str], bool], *,
                     on_error: Callable[[FileError], None] | None = None) -> IngestReport:
        """Bring the documents ``owns`` claims up to date with ``records`` (rows of a database, items of an API):
        a new record is added, one whose content hash changed re-ingested, an unchanged one skipped, and an owned
        document no record names any more removed."""
        started = time.perf_counter()
        report = IngestReport()
        seen: set[str] = set()
        pending: list[_Parsed] = []
        for record in records:
            if record.source in seen:
                self._fail(report, FileError(record.source, "two records with this key; the first one is kept"),
                           on_error)
                continue
            seen.add(record.source)
            digest = record.digest
            existing = self.catalog.document(record.source)
            if existing is not None and existing.sha256 == digest:
                report.unchanged.append(record.source)
                continue
            chunks = self.chunker.chunk(record.blocks())
            for chunk in chunks:
                chunk.place = record.place
            pending.append(_Parsed(record.source, digest, len(record.text.encode()), existing, chunks,
                                   record.name, record.type))
            if sum(len(p.chunks) for p in pending) >= EMBED_BATCH:
                self._store(pending, report, on_error)
                pending = []
        self._store(pending, report, on_error)
        for doc in self.catalog.documents():
            if doc.source not in seen and owns(doc.source):
                self._remove(doc.source)
                report.removed.append(doc.source)
        self._finish(report, started)
        return report

    def _finish(self, report: IngestReport, started: float) -> None:
        with self.lock:
            self.vectors.optimize()
        if report.added or report.updated or report.removed:
            self._language.refresh()
        report.seconds = time.perf_counter() - started

    def _parse(self, path: Path, report: IngestReport, on_error: Callable[[FileError], None] | None) -> _Parsed | None:
        """Read, hash and chunk one file; None when it is unchanged or cannot be read (then reported)."""
        source = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._fail(report, FileError(source, f"cannot read: {exc.strerror or exc}"), on_error)
            return None
        digest = sha256(data)
        existing = self.catalog.document(source)
        if existing is not None and existing.sha256 == digest:
            report.unchanged.append(source)
            return None
        try:
            chunks = self.chunker.chunk(read_blocks(path, data))
        except UnreadableFile as exc:
            self._fail(report, FileError(source, str(exc).removeprefix(f"{source}: ")), on_error)
            return None
        return _Parsed(source, digest, len(data), existing, chunks)

    def _store(self, batch: list[_Parsed], report: IngestReport,
               on_error: Callable[[FileError], None] | None) -> None:
        """Embed the chunks of ``batch`` in one go, then write each file in its own transaction."""
        if not batch:
            return
        try:
            vectors = self.embedder.embed([c.indexed_text for p in batch for c in p.chunks])
        except AutoGLMError as exc:  # the embedder failed (an endpoint down): these files wait for the next add
            for p in batch:
                self._fail(report, FileError(p.source, f"could not embed: {exc}"), on_error)
            return
        offset = 0
        for p in batch:
            mine = vectors[offset : offset + len(p.chunks)]
            offset += len(p.chunks)
            with self.lock:
                try:
                    old_ids = self.catalog.chunk_ids(p.existing.id) if p.existing else []
                    doc_id, ids = self.catalog.put_document(p.source, p.digest, p.size, p.chunks, name=p.name,
                                                            type=p.type)
                    self.vectors.delete(old_ids)
                    self.vectors.add(ids, mine, [doc_id] * len(ids))
                    self.conn.commit()
                except Exception:
                    self.conn.rollback()
                    self.vectors.invalidate()
                    raise
            (report.updated if p.existing else report.added).append(p.source)
            report.chunks += len(p.chunks)

    @staticmethod
    def _fail(report: IngestReport, error: FileError, on_error: Callable[[FileError], None] | None) -> None:
        report.failed.append(error)
        if on_error is not None:
            on_error(error)

    def remove(self, paths: Iterable[str | Path]) -> list[str]:
        """Forget files, or every file under a folder; returns the sources removed."""
        removed: list[str] = []
        docs = self.catalog.documents()
        for raw in paths:
            p = Path(raw).expanduser().resolve()
            matches = [d.source for d in docs if d.source == str(p) or under(d.source, p)]
            if not matches:
                raise NotFound(f"'{raw}' is not in the knowledge base; `autoglm kb list` shows what is")
            for source in matches:
                if source not in removed:
                    self._remove(source)
                    removed.append(source)
        self._language.refresh()
        return removed

    def _remove(self, source: str) -> None:
        doc = self.catalog.document(source)
        if doc is None:
            return
        with self.lock:
            try:
                ids = self.catalog.delete_document(doc.id)
                self.vectors.delete(ids)
                self.conn.commit()
            except Exception:
                self.conn.rollback()
                self.vectors.invalidate()
                raise

    def reindex(self) -> int:
        """Embed every chunk again with the current embedder (after changing the embedding model)."""
        n = 0
        with self.lock:
            for batch in self.catalog.all_chunks():
                texts = [f"{h}\n{t}" if h else t for _, _, h, t in batch]
                self.vectors.add([r[0] for r in batch], self.embedder.embed(texts), [r[1] for r in batch])
                n += len(batch)
            self.catalog.set_info("embedder", self.embedder.name)
            self.conn.commit()
            self.vectors.optimize()
        self._language.refresh(force=True)
        return n

    # -- reading ------------------------------------------------------------------------------------------------

    def refresh_language_direction(self) -> None:
        """Estimate the language direction again (after loading chunks without :meth:`add`)."""
        self._language.refresh(force=True)

    def documents(self) -> list[DocumentInfo]:
        return self.catalog.documents()

    def search(self, query: str, k: int = 5, *, filters: SearchFilter | dict[str, Any] | None = None,
               mode: Mode = "hybrid") -> list[SearchHit]:
        """The ``k`` best chunks for ``query``. ``score`` is the fused score in hybrid mode (see :func:`fuse`),
        else the BM25 score (keyword) or the cosine similarity (vector)."""
        if not query.strip() or k < 1:
            return []
        allowed = self._allowed(SearchFilter.model_validate(filters) if isinstance(filters, dict) else filters)
        depth = max(4 * k, self.config.candidates)  # each ranking contributes more than k so fusion can reorder
        keyword = self.catalog.keyword_search(query, depth, allowed) if mode in ("hybrid", "keyword") else []
        vector: list[tuple[int, float]] = []
        q: list[float] = []
        if mode in ("hybrid", "vector"):
            q = self.embedder.embed_query(query)
            if self.config.language_debias:
                q = self._language.apply(q)
            vector = self.vectors.search(q, depth, allowed)
        kw_rank = {cid: r for r, (cid, _) in enumerate(keyword, start=1)}
        vec_rank = {cid: r for r, (cid, _) in enumerate(vector, start=1)}
        ideal = self.catalog.query_weight(query) if keyword else 0.0
        bm25, cosine = dict(keyword), dict(vector)
        if mode == "hybrid":
            ordered = fuse(keyword, vector, self.config, ideal if self.config.fusion == "score" else 0.0)[:k]
        else:
            ordered = (keyword if mode == "keyword" else vector)[:k]
        stored = self.catalog.chunks([cid for cid, _ in ordered])
        asked_in = script(query) if self.config.cross_lingual_relevance else None
        hits = []
        for cid, score in ordered:
            c = stored.get(cid)
            if c is None:  # a vector whose chunk is gone (a crash between the two stores): skip it
                continue
            rel = relevance(bm25.get(cid, 0.0), ideal, cosine.get(cid))
            written_in = script(c.text) if asked_in is not None and cid in cosine else None
            if asked_in is not None and written_in is not None and written_in != asked_in:
                # Across languages the keyword side cannot match and cosines sit lower: judged on their own scale.
                centered = self._language.centered(q, cosine[cid], written_in)
                if centered is not None:
                    rel = max(rel, cross_lingual_relevance(centered, asked_in, written_in))
            hits.append(SearchHit(source=c.source, name=c.name, position=c.position, score=round(score, 6),
                                  text=c.text, heading=c.heading, chunk_id=cid, keyword_rank=kw_rank.get(cid),
                                  vector_rank=vec_rank.get(cid), relevance=rel))
        return hits

    def _allowed(self, filters: SearchFilter | None) -> set[int] | None:
        if filters is None or (filters.source is None and not filters.types):
            return None
        types = {t.lower().lstrip(".") for t in filters.types or []}
        out = set()
        for d in self.catalog.documents():
            if types and d.type not in types:
                continue
            if filters.source is not None:
                pattern = filters.source
                folder = Path(pattern).expanduser()
                if not (fnmatch.fnmatch(d.source, pattern) or fnmatch.fnmatch(d.name, pattern)
                        or (folder.is_absolute() and under(d.source, folder))):
                    continue
            out.add(d.id)
        return out

    def close(self) -> None:
        with self.lock:
            self.vectors.close()
            self.conn.close()


# Relevance: an absolute measure of a passage's match, comparable across queries (the fused score is relative to the
# other candidates, so the best hit of a question the documents know nothing about still scores high). Keyword
# coverage (BM25 over the ideal score, see Catalog.query_weight) is the sharper signal; the cosine of the bundled
# e5 model adds what words miss, rescaled from COSINE_FLOOR (unrelated passages: 0.71-0.85, measured on questions
# the documents cannot answer) to COSINE_FLOOR + COSINE_SPAN. Same-language questions the documents answer
# measured 0.46-0.73; unanswerable ones 0.00-0.20 (the knowledge-base guard in planning/rules.py sits at 0.35).
KEYWORD_SHARE, COSINE_FLOOR, COSINE_SPAN = 0.6, 0.80, 0.15


def relevance(bm25: float, ideal: float, cosine: float | None) -> float:
    """How well one passage matches a query, in [0, 1]: keyword coverage and cosine, combined as measured above."""
    coverage = min(1.0, bm25 / ideal) if ideal > 0 else 0.0
    semantic = min(1.0, max(0.0, (cosine - COSINE_FLOOR) / COSINE_SPAN)) if cosine is not None else 0.0
    return round(KEYWORD_SHARE * coverage + (1 - KEYWORD_SHARE) * semantic, 3)


# Cross-lingual relevance (a question in one language, a passage in the other): the passage's cosine above the
# query's cosine with the mean passage of the passage's language (LanguageDirection.centered), which separates
# answerable from unanswerable questions where the raw cosine does not. Read per pair (question language, passage
# language) off the development set (bench/kb_relevance.py --set dev --calibrate: bench/kb_dev.py's documents and
# questions plus 16 questions they cannot answer) by one rule: relevance 0 at the unanswerable questions' median,
# and 0.30 (the planner's threshold) at their maximum plus 0.005. zh->en: unanswerable 0.038-0.068, answerable
# 0.057-0.115; en->zh: unanswerable 0.016-0.035, answerable 0.030-0.094 (Chinese questions sit higher against
# English passages than the other way round, hence a scale per pair). Checked, not tuned, on the held-out set
# (bench/kb_eval.py's questions plus 16 others it cannot answer): see the README.
XL_SCALE: dict[tuple[str, str], tuple[float, float]] = {("zh", "en"): (0.0545, 0.062), ("en", "zh"): (0.0255, 0.048)}


def cross_lingual_relevance(centered: float, asked_in: str, written_in: str) -> float:
    """Relevance in [0, 1] of a passage in ``written_in`` to a question in ``asked_in``, from its centred cosine."""
    scale = XL_SCALE.get((asked_in, written_in))
    if scale is None:
        return 0.0
    floor, span = scale
    return round(min(1.0, max(0.0, (centered - floor) / span)), 3)


def fuse(keyword: Sequence[tuple[int, float]], vector: Sequence[tuple[int, float]], config: KnowledgeConfig,
         ideal: float = 0.0) -> list[tuple[int, float]]:
    """One ranking from a BM25 ranking and a cosine ranking (each best first): (chunk id, fused score), best first.

    ``fusion: rrf`` sums ``1 / (rrf_k + rank)`` over the two rankings. It ignores how good a match is, so the
    keyword ranking's first place counts as much as the vector ranking's even when it matched one common word of
    a question asked in another language, and such hits push good vector hits out of the top few.

    ``fusion: score`` (the default) is a convex combination of the two scores, each brought to [0, 1]:
    ``vector_weight * v + (1 - vector_weight) * b``. ``v`` is the cosine rescaled over the vector candidates
    (best 1, worst 0: cosines of one embedder sit in a narrow band whose position varies by query). ``b`` is the
    BM25 score over ``ideal`` (:meth:`Catalog.query_weight`, the score of a chunk containing every query word),
    capped at 1: an absolute measure of how much of the query the keyword match explains, so a weak keyword
    match stays weak even when it is the best there is. A chunk missing from one ranking scores 0 on that side.
    """
    if config.fusion == "rrf":
        fused: dict[int, float] = {}
        for ranking in (keyword, vector):
            for rank, (cid, _) in enumerate(ranking, start=1):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (config.rrf_k + rank)
    else:
        w = config.vector_weight
        fused = {cid: 0.0 for cid, _ in keyword}
        if ideal > 0:
            for cid, bm25 in keyword:
                fused[cid] = (1.0 - w) * min(1.0, bm25 / ideal)
        if vector:
            top, low = vector[0][1], vector[-1][1]
            span = top - low
            for cid, cos in vector:
                fused[cid] = fused.get(cid, 0.0) + w * ((cos - low) / span if span > 0 else 1.0)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


class _EmbedderChanged(AutoGLMError):
    http_status = 409
    error_type = "embedder_changed"

    def __init__(self, was: str, now: str) -> None:
        super().__init__(f"the knowledge base was embedded with '{was}' but the configured embedder is '{now}'; "
                         "run `autoglm kb reindex` to embed it again")


def kb_path(settings: Settings) -> Path:
    """``knowledge.path``; else the app's SQLite file; else (PostgreSQL, in-memory) knowledge.db in the data dir."""
    if settings.knowledge.path is not None:
        return Path(settings.knowledge.path).expanduser()
    from sqlalchemy.engine import make_url

    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database)
    return settings.data_dir / "knowledge.db"


class _Progress:
    """A rich progress bar on stderr, for runs long enough to want one."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("[bold]kb add"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), TextColumn("{task.description}"),
                                  console=Console(file=sys.stderr), transient=False)
        self._task = self._progress.add_task("", total=total)
        self._progress.start()
        self._started = False

    def advance(self, name: str) -> None:
        if self._started:
            self._progress.advance(self._task)
        self._started = True
        self._progress.update(self._task, description=name[:40])

    def close(self) -> None:
        if self._started:
            self._progress.advance(self._task)
        self._progress.stop()


def _progress(total: int) -> _Progress:
    return _Progress(total)


__all__: Sequence[str] = ["KnowledgeBase", "SearchFilter", "SearchHit", "fuse", "kb_path"]
