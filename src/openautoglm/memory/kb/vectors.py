"""Where chunk vectors live: one :class:`VectorStore` interface, sqlite-vec by default, Qdrant at scale.

Vectors are keyed by chunk id and carry their document id, so a search can be limited to some documents (the
metadata filters). Scores are cosine similarities (vectors are L2-normalised by the embedder).

:class:`SqliteVecStore` keeps the vectors in a sqlite-vec ``vec0`` table in the knowledge base's SQLite file.
A brute-force scan of 100k 384-d vectors takes ~45 ms on this machine's 2 cores, over the 20 ms budget, so past
``ivf_min`` vectors the table is organised as an inverted file: k-means cells (about √N of them) become vec0
partitions, and a query scans only the ``nprobe`` cells nearest to it. ``bench/knowledge.py`` reports the latency
and the recall this costs against the exact scan.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from ...errors import ConfigError, StoreError

Hit = tuple[int, float]  # (chunk id, cosine similarity)


class VectorStore(ABC):
    """Vectors by chunk id. Implement :meth:`search`, :meth:`add`, :meth:`delete`."""

    name = "vectors"

    @abstractmethod
    def add(self, ids: Sequence[int], vectors: Sequence[Sequence[float]], doc_ids: Sequence[int]) -> None:
        """Store (or replace) the vectors of these chunks."""

    @abstractmethod
    def delete(self, ids: Collection[int]) -> None:
        """Forget these chunks' vectors (unknown ids are ignored)."""

    @abstractmethod
    def search(self, vector: Sequence[float], k: int, doc_ids: Collection[int] | None = None) -> list[Hit]:
        """The ``k`` nearest chunks, best first; only chunks of ``doc_ids`` when given."""

    @abstractmethod
    def count(self) -> int: ...

    def optimize(self) -> None:  # noqa: B027 - optional: stores that need no upkeep after a bulk load skip it
        """Reorganise after a bulk load (e.g. rebuild an index); called once at the end of an ingestion."""

    def close(self) -> None:  # noqa: B027 - optional: stores without resources of their own skip it
        """Release connections or files."""


def _f32(vector: Sequence[float]) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


class SqliteVecStore(VectorStore):
    """sqlite-vec's ``vec0`` table in a SQLite file (shared with the catalogue through ``conn``)."""

    name = "sqlite-vec"

    def __init__(self, conn: Any, dim: int, *, lock: threading.RLock | None = None, ivf_min: int = 20_000,
                 nprobe: int = 16, table: str = "kb_vec", reset: bool = False) -> None:
        self.conn = conn
        self.dim = dim
        self.lock = lock or threading.RLock()
        self.ivf_min = ivf_min
        self.nprobe = nprobe
        self.table = table
        self._centroids: Any = None  # numpy (cells, dim) once trained
        with self.lock:
            if reset:  # re-embedding everything, perhaps at another dimension: start from nothing
                for name in (table, f"{table}_cells", f"{table}_info"):
                    conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING vec0(chunk_id integer primary key, "
                f"cell integer partition key, doc_id integer, embedding float[{dim}] distance_metric=cosine)"
            )
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table}_cells (cell INTEGER PRIMARY KEY, centroid BLOB)")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table}_info (key TEXT PRIMARY KEY, value INTEGER)")
            row = conn.execute(f"SELECT value FROM {table}_info WHERE key = 'dim'").fetchone()
            if row is None:
                conn.execute(f"INSERT INTO {table}_info VALUES ('dim', ?)", (dim,))
            elif int(row[0]) != dim:
                raise ConfigError(
                    f"the knowledge base holds {row[0]}-d vectors but the embedder makes {dim}-d ones; "
                    "run `autoglm kb reindex` to embed everything again with the configured embedder"
                )
            conn.commit()
            self._load_centroids()

    # -- IVF ------------------------------------------------------------------------------------------------------

    def _load_centroids(self) -> None:
        import numpy as np

        rows = self.conn.execute(f"SELECT centroid FROM {self.table}_cells ORDER BY cell").fetchall()
        self._centroids = np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows]) if rows else None

    def _cells_for(self, vectors: Any) -> list[int]:
        if self._centroids is None:
            return [0] * len(vectors)
        return [int(c) for c in (vectors @ self._centroids.T).argmax(axis=1)]

    def optimize(self) -> None:
        """(Re)build the inverted file once the table is past ``ivf_min`` and has doubled since the last build."""
        with self.lock:
            n = self.count()
            built = self.conn.execute(f"SELECT value FROM {self.table}_info WHERE key = 'ivf_n'").fetchone()
            if n < self.ivf_min or (built is not None and n < 2 * int(built[0])):
                return
            self.rebuild_ivf()

    def rebuild_ivf(self, cells: int | None = None, iterations: int = 8, seed: int = 0) -> None:
        import numpy as np

        with self.lock:
            rows = self.conn.execute(f"SELECT chunk_id, doc_id, embedding FROM {self.table}").fetchall()
            if not rows:
                return
            ids = [r[0] for r in rows]
            docs = [r[1] for r in rows]
            X = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
            k = cells or max(1, int(len(rows) ** 0.5))
            rng = np.random.default_rng(seed)
            sample = X[rng.choice(len(X), size=min(len(X), 50 * k), replace=False)]
            centroids = sample[rng.choice(len(sample), size=k, replace=False)].copy()
            for _ in range(iterations):  # spherical k-means on a sample: good enough cells, bounded time
                assign = (sample @ centroids.T).argmax(axis=1)
                for c in range(k):
                    members = sample[assign == c]
                    if len(members):
                        mean = members.mean(axis=0)
                        norm = float(np.linalg.norm(mean))
                        if norm > 0:
                            centroids[c] = mean / norm
            assign_all = np.concatenate([(X[s : s + 8192] @ centroids.T).argmax(axis=1)
                                         for s in range(0, len(X), 8192)])
            try:
                self.conn.execute(f"DELETE FROM {self.table}")
                self.conn.executemany(
                    f"INSERT INTO {self.table}(chunk_id, cell, doc_id, embedding) VALUES (?, ?, ?, ?)",
                    ((ids[i], int(assign_all[i]), docs[i], X[i].tobytes()) for i in range(len(ids))),
                )
                self.conn.execute(f"DELETE FROM {self.table}_cells")
                self.conn.executemany(f"INSERT INTO {self.table}_cells VALUES (?, ?)",
                                      ((c, centroids[c].astype(np.float32).tobytes()) for c in range(k)))
                self.conn.execute(f"INSERT OR REPLACE INTO {self.table}_info VALUES ('ivf_n', ?)", (len(ids),))
                self.conn.commit()
            except Exception:
                self.conn.rollback()
                raise
            self._centroids = centroids.astype(np.float32)

    # -- the interface ------------------------------------------------------------------------------------------

    def add(self, ids: Sequence[int], vectors: Sequence[Sequence[float]], doc_ids: Sequence[int]) -> None:
        import numpy as np

        if not ids:
            return
        X = np.asarray(vectors, dtype=np.float32)
        if X.shape[1] != self.dim:
            raise StoreError(f"vector of dimension {X.shape[1]} for a {self.dim}-d store")
        with self.lock:
            cells = self._cells_for(X)
            self.conn.executemany(f"DELETE FROM {self.table} WHERE chunk_id = ?", ((i,) for i in ids))
            self.conn.executemany(
                f"INSERT INTO {self.table}(chunk_id, cell, doc_id, embedding) VALUES (?, ?, ?, ?)",
                ((ids[i], cells[i], doc_ids[i], X[i].tobytes()) for i in range(len(ids))),
            )

    def delete(self, ids: Collection[int]) -> None:
        with self.lock:
            self.conn.executemany(f"DELETE FROM {self.table} WHERE chunk_id = ?", ((i,) for i in ids))

    def search(self, vector: Sequence[float], k: int, doc_ids: Collection[int] | None = None) -> list[Hit]:
        import numpy as np

        if doc_ids is not None and not doc_ids:
            return []
        q = np.asarray(vector, dtype=np.float32)
        where = "embedding MATCH ? AND k = ?"
        params: list[Any] = [q.tobytes(), k]
        with self.lock:
            if self._centroids is not None:
                probe = np.argsort(-(self._centroids @ q))[: self.nprobe]
                where += f" AND cell IN ({','.join(str(int(c)) for c in probe)})"
            if doc_ids is not None:
                where += f" AND doc_id IN ({','.join(str(int(d)) for d in doc_ids)})"
            rows = self.conn.execute(f"SELECT chunk_id, distance FROM {self.table} WHERE {where}", params).fetchall()
        # With cells, vec0 answers k per cell: keep the best k overall.
        rows.sort(key=lambda r: r[1])
        return [(int(r[0]), 1.0 - float(r[1])) for r in rows[:k]]

    def count(self) -> int:
        with self.lock:
            return int(self.conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])


class QdrantStore(VectorStore):
    """A Qdrant collection through qdrant-client: a server by URL, or local mode (a folder, or ``:memory:``)."""

    name = "qdrant"

    def __init__(self, dim: int, *, url: str | None = None, path: str | Path | None = None,
                 api_key: str | None = None, collection: str = "autoglm_kb", client: Any = None,
                 reset: bool = False) -> None:
        try:
            from qdrant_client import QdrantClient, models
        except ImportError as exc:
            raise ConfigError("the Qdrant backend needs qdrant-client: pip install 'openautoglm[qdrant]'") from exc
        self._models = models
        self.dim = dim
        self.collection = collection
        if client is not None:
            self.client = client
        elif url:
            self.client = QdrantClient(url=url, api_key=api_key)
        elif path is not None and str(path) != ":memory:":
            Path(path).mkdir(parents=True, exist_ok=True)
            self.client = QdrantClient(path=str(path))
        else:
            self.client = QdrantClient(location=":memory:")
        try:
            if reset and self.client.collection_exists(collection):
                self.client.delete_collection(collection)
            if not self.client.collection_exists(collection):
                self.client.create_collection(
                    collection, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
                )
                if url:  # local mode has no payload indexes (and warns about them)
                    self.client.create_payload_index(collection, "doc_id", models.PayloadSchemaType.INTEGER)
            else:
                info = self.client.get_collection(collection)
                size = info.config.params.vectors.size
                if size != dim:
                    raise ConfigError(
                        f"Qdrant collection '{collection}' holds {size}-d vectors but the embedder makes {dim}-d "
                        "ones; run `autoglm kb reindex` or name another collection in knowledge.collection"
                    )
        except ConfigError:
            raise
        except Exception as exc:  # connection refused, timeouts: say where and what
            raise StoreError(f"Qdrant at {url or path or ':memory:'} is not usable: {exc}") from exc

    def add(self, ids: Sequence[int], vectors: Sequence[Sequence[float]], doc_ids: Sequence[int]) -> None:
        if not ids:
            return
        m = self._models
        points = [m.PointStruct(id=int(i), vector=list(map(float, v)), payload={"doc_id": int(d)})
                  for i, v, d in zip(ids, vectors, doc_ids, strict=True)]
        for start in range(0, len(points), 512):
            self.client.upsert(self.collection, points[start : start + 512], wait=True)

    def delete(self, ids: Collection[int]) -> None:
        if ids:
            self.client.delete(self.collection, self._models.PointIdsList(points=[int(i) for i in ids]), wait=True)

    def search(self, vector: Sequence[float], k: int, doc_ids: Collection[int] | None = None) -> list[Hit]:
        if doc_ids is not None and not doc_ids:
            return []
        m = self._models
        flt = None
        if doc_ids is not None:
            flt = m.Filter(must=[m.FieldCondition(key="doc_id", match=m.MatchAny(any=[int(d) for d in doc_ids]))])
        result = self.client.query_points(self.collection, query=list(map(float, vector)), limit=k,
                                          query_filter=flt, with_payload=False)
        return [(int(p.id), float(p.score)) for p in result.points]

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def close(self) -> None:
        self.client.close()
