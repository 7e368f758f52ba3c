"""The knowledge base's catalogue in SQLite: documents, their chunks, and the BM25 keyword index.

The keyword index is an FTS5 table over jieba-segmented tokens joined by spaces (FTS5's own tokenizers cannot
split Chinese), ranked by FTS5's built-in ``bm25()``. It is contentless: the chunk text lives once, in
``kb_chunks``. The connection comes from ``pysqlite3`` where installed (``sqlite_driver``), because sqlite-vec is
an extension and some Python builds' ``sqlite3`` cannot load extensions.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import sqlite_driver
from ...errors import ConfigError
from .chunking import Chunk
from .text import tokenize


def connect(path: Path | str) -> Any:
    """A SQLite connection that can load sqlite-vec, from the process's one SQLite library (``sqlite_driver``)."""
    try:
        import sqlite_vec
    except ImportError as exc:
        raise ConfigError("the knowledge base needs sqlite-vec: pip install 'openautoglm[kb]'") from exc
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite_driver.connect(path, check_same_thread=False, timeout=30)
    if not hasattr(conn, "enable_load_extension"):
        raise ConfigError(
            "this Python's sqlite3 cannot load extensions, which sqlite-vec needs: pip install pysqlite3-binary"
        )
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@dataclass
class DocumentInfo:
    id: int
    source: str
    name: str
    type: str
    sha256: str
    size: int
    chunks: int
    ingested_at: float


@dataclass
class StoredChunk:
    id: int
    doc_id: int
    source: str
    name: str
    ordinal: int
    text: str
    heading: str
    position: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_documents (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL UNIQUE, name TEXT NOT NULL, type TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, chunks INTEGER NOT NULL, ingested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS kb_chunks (
    id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, heading TEXT NOT NULL, position TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS kb_chunks_doc ON kb_chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS kb_fts USING fts5(tokens, content='', contentless_delete=1);
CREATE VIRTUAL TABLE IF NOT EXISTS kb_fts_terms USING fts5vocab(kb_fts, 'row');
CREATE TABLE IF NOT EXISTS kb_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Catalog:
    def __init__(self, conn: Any, lock: threading.RLock | None = None) -> None:
        self.conn = conn
        self.lock = lock or threading.RLock()
        with self.lock:
            conn.executescript(_SCHEMA)
            conn.commit()

    # -- info --------------------------------------------------------------------------------------------------

    def info(self, key: str) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM kb_info WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_info(self, key: str, value: str) -> None:
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO kb_info VALUES (?, ?)", (key, value))

    # -- documents ---------------------------------------------------------------------------------------------

    def documents(self, sources: Iterable[str] | None = None) -> list[DocumentInfo]:
        query = "SELECT id, source, name, type, sha256, size, chunks, ingested_at FROM kb_documents"
        with self.lock:
            rows = self.conn.execute(query + " ORDER BY source").fetchall()
        docs = [DocumentInfo(*r) for r in rows]
        if sources is not None:
            wanted = set(sources)
            docs = [d for d in docs if d.source in wanted]
        return docs

    def document(self, source: str) -> DocumentInfo | None:
        with self.lock:
            row = self.conn.execute("SELECT id, source, name, type, sha256, size, chunks, ingested_at "
                                    "FROM kb_documents WHERE source = ?", (source,)).fetchone()
        return DocumentInfo(*row) if row else None

    def chunk_ids(self, doc_id: int) -> list[int]:
        with self.lock:
            return [r[0] for r in self.conn.execute("SELECT id FROM kb_chunks WHERE doc_id = ?", (doc_id,))]

    def put_document(self, source: str, sha256: str, size: int, chunks: Sequence[Chunk], *, name: str | None = None,
                     type: str | None = None) -> tuple[int, list[int]]:
        """Insert or replace a document and its chunks (caller commits); returns its id and the new chunk ids.
        ``name`` and ``type`` default to the file name and extension of ``source``."""
        path = Path(source)
        name = path.name if name is None else name
        type = path.suffix.lower().lstrip(".") if type is None else type
        with self.lock:
            old = self.document(source)
            if old is not None:
                self._drop_chunks(old.id)
                self.conn.execute("UPDATE kb_documents SET name = ?, sha256 = ?, size = ?, chunks = ?, "
                                  "ingested_at = ? WHERE id = ?", (name, sha256, size, len(chunks), time.time(),
                                                                   old.id))
                doc_id = old.id
            else:
                cur = self.conn.execute(
                    "INSERT INTO kb_documents(source, name, type, sha256, size, chunks, ingested_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (source, name, type, sha256, size, len(chunks), time.time()),
                )
                doc_id = int(cur.lastrowid)
            ids: list[int] = []
            for c in chunks:
                cur = self.conn.execute(
                    "INSERT INTO kb_chunks(doc_id, ordinal, text, heading, position) VALUES (?, ?, ?, ?, ?)",
                    (doc_id, c.ordinal, c.text, c.heading, c.position),
                )
                chunk_id = int(cur.lastrowid)
                ids.append(chunk_id)
                self.conn.execute("INSERT INTO kb_fts(rowid, tokens) VALUES (?, ?)",
                                  (chunk_id, " ".join(tokenize(c.indexed_text))))
            return doc_id, ids

    def delete_document(self, doc_id: int) -> list[int]:
        """Remove a document (caller commits); returns the ids of the chunks that went with it."""
        with self.lock:
            ids = self._drop_chunks(doc_id)
            self.conn.execute("DELETE FROM kb_documents WHERE id = ?", (doc_id,))
            return ids

    def _drop_chunks(self, doc_id: int) -> list[int]:
        ids = self.chunk_ids(doc_id)
        self.conn.executemany("DELETE FROM kb_fts WHERE rowid = ?", ((i,) for i in ids))
        self.conn.execute("DELETE FROM kb_chunks WHERE doc_id = ?", (doc_id,))
        return ids

    # -- chunks and keyword search -----------------------------------------------------------------------------

    def chunks(self, ids: Collection[int]) -> dict[int, StoredChunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self.lock:
            rows = self.conn.execute(
                "SELECT c.id, c.doc_id, d.source, d.name, c.ordinal, c.text, c.heading, c.position "
                f"FROM kb_chunks c JOIN kb_documents d ON d.id = c.doc_id WHERE c.id IN ({marks})",
                list(ids),
            ).fetchall()
        return {r[0]: StoredChunk(*r) for r in rows}

    def all_chunks(self, batch: int = 1000) -> Iterable[list[tuple[int, int, str, str]]]:
        """(chunk id, doc id, heading, text) in batches, for re-embedding everything."""
        last = 0
        while True:
            with self.lock:
                rows = self.conn.execute("SELECT id, doc_id, heading, text FROM kb_chunks WHERE id > ? "
                                         "ORDER BY id LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield rows

    def keyword_search(self, query: str, k: int, doc_ids: Collection[int] | None = None) -> list[tuple[int, float]]:
        """BM25 over the segmented tokens: (chunk id, score), best first. Any query word may match."""
        tokens = sorted(set(tokenize(query)))
        if not tokens or (doc_ids is not None and not doc_ids):
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in tokens)
        # ``rank`` is bm25() here; FTS5 orders by it with a bounded heap when a LIMIT is given.
        sql = "SELECT rowid, rank FROM kb_fts WHERE kb_fts MATCH ?"
        params: list[Any] = [match]
        if doc_ids is not None:
            docs = ",".join(str(int(d)) for d in doc_ids)
            sql += f" AND rowid IN (SELECT id FROM kb_chunks WHERE doc_id IN ({docs}))"
        sql += " ORDER BY rank LIMIT ?"
        params.append(k)
        with self.lock:
            rows = self.conn.execute(sql, params).fetchall()
        # FTS5's bm25() is lower-is-better and negative; report the usual positive BM25 score.
        return [(int(r[0]), -float(r[1])) for r in rows]

    def sample_chunks(self, n: int) -> list[tuple[int, str]]:
        """(chunk id, text) of up to ``n`` chunks picked at random."""
        with self.lock:
            return [(int(r[0]), str(r[1])) for r in self.conn.execute(
                "SELECT id, text FROM kb_chunks WHERE id IN (SELECT id FROM kb_chunks ORDER BY random() LIMIT ?)",
                (n,))]

    def query_weight(self, query: str) -> float:
        """The BM25 score of an ideal keyword match for ``query``: the sum of its words' IDF (FTS5's formula),
        which is what a chunk of average length containing each word once scores. Words found nowhere count
        too, so a query whose words mostly miss the corpus (a question in another language) gets a large ideal
        that its partial matches fall far short of."""
        tokens = sorted(set(tokenize(query)))
        if not tokens:
            return 0.0
        marks = ",".join("?" * len(tokens))
        with self.lock:
            total = self.conn.execute("SELECT coalesce(sum(chunks), 0) FROM kb_documents").fetchone()[0]
            found = dict(self.conn.execute(f"SELECT term, doc FROM kb_fts_terms WHERE term IN ({marks})", tokens))
        weight = 0.0
        for t in tokens:
            n = int(found.get(t, 0))
            weight += max(1e-6, math.log((total - n + 0.5) / (n + 0.5)))
        return weight

    def count_chunks(self) -> int:
        with self.lock:
            return int(self.conn.execute("SELECT count(*) FROM kb_chunks").fetchone()[0])
