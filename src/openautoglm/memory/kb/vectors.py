"""Where chunk vectors live: one :class:`VectorStore` interface, sqlite-vec by default, Qdrant at scale.

Vectors are keyed by chunk id and carry their document id, so a search can be limited to some documents (the
metadata filters). Scores are cosine similarities (vectors are L2-normalised by the embedder).

:class:`SqliteVecStore` keeps the vectors in a sqlite-vec ``vec0`` table in the knowledge base's SQLite file, the
record that every process reads, and searches an in-memory numpy copy of them (:class:`_Matrix`). Past ``ivf_min``
vectors the copy is organised as an inverted file: k-means cells (about √N of them, kept in ``{table}_cells``, each
vector's cell in the table's partition column), and a query compares only the vectors of the ``nprobe`` cells
nearest to it. Profiled at 100k chunks, sqlite-vec's own partitioned scan of 16 cells took ~9-17 ms of CPU (about
0.7 ms per cell: SQL per partition plus its distance loop); one BLAS product per probed cell over contiguous rows
takes ~0.8 ms for 16 cells and ~1.8 ms for 32, so the default probes 32 cells: recall@10 against the exact scan is
0.99 on clustered vectors and 0.72 on the benchmark's structureless hashing vectors (0.58 at the old 16). The copy
costs 4·dim bytes per chunk of memory (150 MB at 100k 384-d chunks; use Qdrant well beyond that). Writes through
this store update the copy in place; a write by another connection (``PRAGMA data_version``) makes the next search
read the table again. ``bench/knowledge.py`` reports latency and recall at several probe counts.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ConfigError, StoreError
from ...registry import Registry

if TYPE_CHECKING:
    from .config import KnowledgeConfig

Hit = tuple[int, float]  # (chunk id, cosine similarity)


class VectorStore(ABC):
    """Vectors by chunk id. Implement :meth:`search`, :meth:`add`, :meth:`delete`, :meth:`count`, and
    :meth:`from_config` to be named by ``knowledge.backend`` (registered in :data:`vector_stores`)."""

    name = "vectors"

    @classmethod
    def from_config(cls, config: KnowledgeConfig, *, dim: int, conn: Any, lock: threading.RLock,
                    reset: bool = False) -> VectorStore:
        """The store for a knowledge base: ``config`` is ``knowledge:``, ``dim`` the embedder's dimension,
        ``conn``/``lock`` the base's SQLite connection and its lock; ``reset`` drops vectors of an older embedder."""
        raise NotImplementedError(f"{cls.__name__} cannot be made from knowledge settings")

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

    def get(self, ids: Collection[int]) -> dict[int, list[float]]:
        """The stored vectors of these chunks (unknown ids left out). Stores that cannot return them return {}:
        the knowledge base then searches without its language correction."""
        return {}

    def invalidate(self) -> None:  # noqa: B027 - optional: stores without an in-memory copy skip it
        """Forget anything cached from the stored vectors (after a rolled-back write)."""

    def optimize(self) -> None:  # noqa: B027 - optional: stores that need no upkeep after a bulk load skip it
        """Reorganise after a bulk load (e.g. rebuild an index); called once at the end of an ingestion."""

    def close(self) -> None:  # noqa: B027 - optional: stores without resources of their own skip it
        """Release connections or files."""


# ``knowledge.backend`` -> store class; third parties add theirs with @vector_stores.register or an entry point.
vector_stores: Registry[VectorStore] = Registry("openautoglm.vector_stores", "vector store", VectorStore)


def _f32(vector: Sequence[float]) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


@vector_stores.register("sqlite")
class SqliteVecStore(VectorStore):
    """sqlite-vec's ``vec0`` table in a SQLite file (shared with the catalogue through ``conn``), searched through
    an in-memory copy (:class:`_Matrix`)."""

    name = "sqlite-vec"

    def __init__(self, conn: Any, dim: int, *, lock: threading.RLock | None = None, ivf_min: int = 20_000,
                 nprobe: int = 32, table: str = "kb_vec", reset: bool = False) -> None:
        self.conn = conn
        self.dim = dim
        self.lock = lock or threading.RLock()
        self.ivf_min = ivf_min
        self.nprobe = nprobe
        self.table = table
        self._centroids: Any = None  # numpy (cells, dim) once trained
        self._matrix: _Matrix | None = None  # loaded on the first search
        self._data_version: int | None = None
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

    @classmethod
    def from_config(cls, config: KnowledgeConfig, *, dim: int, conn: Any, lock: threading.RLock,
                    reset: bool = False) -> SqliteVecStore:
        return cls(conn, dim, lock=lock, reset=reset)

    # -- IVF ------------------------------------------------------------------------------------------------------

    def _load_centroids(self) -> None:
        import numpy as np

        rows = self.conn.execute(f"SELECT centroid FROM {self.table}_cells ORDER BY cell").fetchall()
        self._centroids = np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows]) if rows else None

    def _cells_for(self, vectors: Any) -> Any:
        import numpy as np

        if self._centroids is None:
            return np.zeros(len(vectors), dtype=np.int64)
        return (vectors @ self._centroids.T).argmax(axis=1).astype(np.int64)

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
            centroids = centroids.astype(np.float32)
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
                                      ((c, centroids[c].tobytes()) for c in range(k)))
                self.conn.execute(f"INSERT OR REPLACE INTO {self.table}_info VALUES ('ivf_n', ?)", (len(ids),))
                self.conn.commit()
            except Exception:
                self.conn.rollback()
                self.invalidate()
                raise
            self._centroids = centroids
            # The vectors are in hand: lay out the search copy now instead of reading them back.
            self._matrix = _Matrix(np.asarray(ids, dtype=np.int64), np.asarray(docs, dtype=np.int64), X,
                                   assign_all.astype(np.int64), centroids)
            self._data_version = self._version()

    # -- the in-memory copy ----------------------------------------------------------------------------------------

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def invalidate(self) -> None:
        """Drop the in-memory copy (after a rollback); the next search reads the table again."""
        with self.lock:
            self._matrix = None

    def _current(self) -> _Matrix:
        """The search copy, (re)read from SQLite when missing or when another connection changed the file."""
        import numpy as np

        version = self._version()
        if self._matrix is None or version != self._data_version:
            self._load_centroids()
            rows = self.conn.execute(f"SELECT chunk_id, doc_id, cell, embedding FROM {self.table}").fetchall()
            X = (np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), self.dim)
                 if rows else np.zeros((0, self.dim), dtype=np.float32))
            self._matrix = _Matrix(np.fromiter((r[0] for r in rows), np.int64, len(rows)),
                                   np.fromiter((r[1] for r in rows), np.int64, len(rows)), X,
                                   np.fromiter((r[2] for r in rows), np.int64, len(rows)), self._centroids)
            self._data_version = version
        return self._matrix

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
                ((ids[i], int(cells[i]), doc_ids[i], X[i].tobytes()) for i in range(len(ids))),
            )
            if self._matrix is not None:
                self._matrix.put(np.asarray(ids, dtype=np.int64), np.asarray(doc_ids, dtype=np.int64), X, cells)

    def delete(self, ids: Collection[int]) -> None:
        with self.lock:
            self.conn.executemany(f"DELETE FROM {self.table} WHERE chunk_id = ?", ((i,) for i in ids))
            if self._matrix is not None:
                self._matrix.drop(ids)

    def search(self, vector: Sequence[float], k: int, doc_ids: Collection[int] | None = None) -> list[Hit]:
        return self._search(vector, k, doc_ids, self.nprobe)

    def search_exact(self, vector: Sequence[float], k: int, doc_ids: Collection[int] | None = None) -> list[Hit]:
        """Every vector compared: the reference the inverted file is measured against."""
        return self._search(vector, k, doc_ids, None)

    def _search(self, vector: Sequence[float], k: int, doc_ids: Collection[int] | None,
                nprobe: int | None) -> list[Hit]:
        import numpy as np

        if doc_ids is not None and not doc_ids:
            return []
        q = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(q))
        if norm > 0:
            q = q / norm
        with self.lock:
            return self._current().search(q, k, doc_ids, nprobe)

    def get(self, ids: Collection[int]) -> dict[int, list[float]]:
        import numpy as np

        if not ids:
            return {}
        marks = ",".join(str(int(i)) for i in ids)
        with self.lock:
            rows = self.conn.execute(f"SELECT chunk_id, embedding FROM {self.table} WHERE chunk_id IN ({marks})")
            return {int(r[0]): np.frombuffer(r[1], dtype=np.float32).tolist() for r in rows}

    def count(self) -> int:
        with self.lock:
            return int(self.conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])


@vector_stores.register("qdrant")
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

    @classmethod
    def from_config(cls, config: KnowledgeConfig, *, dim: int, conn: Any, lock: threading.RLock,
                    reset: bool = False) -> QdrantStore:
        return cls(dim, url=config.qdrant_url, path=config.qdrant_path, api_key=config.qdrant_api_key,
                   collection=config.collection, reset=reset)

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

    def get(self, ids: Collection[int]) -> dict[int, list[float]]:
        if not ids:
            return {}
        points = self.client.retrieve(self.collection, [int(i) for i in ids], with_vectors=True, with_payload=False)
        return {int(p.id): list(map(float, p.vector)) for p in points if isinstance(p.vector, list)}

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def close(self) -> None:
        self.client.close()


class _Matrix:
    """The store's vectors in one numpy matrix, rows grouped by k-means cell, for search.

    Profiling showed sqlite-vec's partitioned scan spending its time per probed cell in SQL and in its own
    distance loop; a BLAS matrix-vector product over the probed cells' contiguous rows costs a fraction of that.
    Vectors added after the last build go to a tail that is always scanned in full; deleted rows are masked. The
    tail is folded into the grouped rows when it grows past an eighth of them.
    """

    def __init__(self, ids: Any, docs: Any, X: Any, cells: Any, centroids: Any) -> None:
        import numpy as np

        order = np.argsort(cells, kind="stable")
        self.ids, self.docs, self.X = ids[order], docs[order], _unit(X[order])
        self.centroids = centroids
        n_cells = 1 if centroids is None else len(centroids)
        self.starts = np.searchsorted(cells[order], np.arange(n_cells + 1))
        self.alive = np.ones(len(ids), dtype=bool)
        self.row = {int(i): r for r, i in enumerate(self.ids)}
        self.tail: dict[int, tuple[int, Any, int]] = {}  # chunk id -> (doc id, vector, cell)
        self._tail_arrays: tuple[Any, Any, Any] | None = None

    def put(self, ids: Any, docs: Any, X: Any, cells: Any) -> None:
        self.drop(int(i) for i in ids)
        self._tail_arrays = None
        for i, d, x, c in zip(ids, docs, _unit(X), cells, strict=True):
            self.tail[int(i)] = (int(d), x, int(c))
        if len(self.tail) > max(1024, len(self.ids) // 8):
            self._fold()

    def drop(self, ids: Iterable[int]) -> None:
        for i in ids:
            r = self.row.pop(int(i), None)
            if r is not None:
                self.alive[r] = False
            if self.tail.pop(int(i), None) is not None:
                self._tail_arrays = None

    def _fold(self) -> None:
        import numpy as np

        keep = self.alive
        cells = np.repeat(np.arange(len(self.starts) - 1), np.diff(self.starts))[keep]
        tail = list(self.tail.items())
        ids = np.concatenate([self.ids[keep], np.fromiter((i for i, _ in tail), np.int64, len(tail))])
        docs = np.concatenate([self.docs[keep], np.fromiter((t[0] for _, t in tail), np.int64, len(tail))])
        tail_X = np.asarray([t[1] for _, t in tail], dtype=np.float32).reshape(-1, self.X.shape[1])
        X = np.concatenate([self.X[keep], tail_X])
        cells = np.concatenate([cells, np.fromiter((t[2] for _, t in tail), np.int64, len(tail))])
        self.__init__(ids, docs, X, cells, self.centroids)  # type: ignore[misc]

    def search(self, q: Any, k: int, doc_ids: Collection[int] | None, nprobe: int | None) -> list[Hit]:
        # OpenBLAS splits each of these small products over every core and the caller spins until the other
        # threads get a core: on a busy 2-core machine that tripled the search's time. One thread is enough.
        with _one_blas_thread():
            return self._search(q, k, doc_ids, nprobe)

    def _search(self, q: Any, k: int, doc_ids: Collection[int] | None, nprobe: int | None) -> list[Hit]:
        import numpy as np

        allowed = None if doc_ids is None else np.fromiter((int(d) for d in doc_ids), np.int64, len(doc_ids))
        n_cells = len(self.starts) - 1
        if nprobe is None or self.centroids is None or nprobe >= n_cells:
            rows: Any = slice(None)
            scores = self.X @ q
            mask = self.alive.copy()
        elif allowed is not None and (
            len(subset := np.flatnonzero(np.isin(self.docs, allowed) & self.alive))
            <= len(self.ids) * nprobe // n_cells
        ):
            # A filter to a few documents: their rows, exactly, cost no more than the cells would, and the
            # probed cells might hold fewer than k of them.
            rows = subset
            scores = self.X[rows] @ q
            mask = np.ones(len(rows), dtype=bool)
        else:
            probe = np.argpartition(-(self.centroids @ q), nprobe - 1)[:nprobe]
            probe.sort()  # neighbouring cells' rows are adjacent: read memory in order
            rows = np.concatenate([np.arange(self.starts[c], self.starts[c + 1]) for c in probe])
            scores = np.concatenate([self.X[self.starts[c] : self.starts[c + 1]] @ q for c in probe])
            mask = self.alive[rows]
        ids, docs = self.ids[rows], self.docs[rows]
        if self.tail:
            if self._tail_arrays is None:
                self._tail_arrays = (np.fromiter(self.tail, np.int64, len(self.tail)),
                                     np.fromiter((t[0] for t in self.tail.values()), np.int64, len(self.tail)),
                                     np.stack([t[1] for t in self.tail.values()]))
            t_ids, t_docs, t_X = self._tail_arrays
            ids, docs = np.concatenate([ids, t_ids]), np.concatenate([docs, t_docs])
            scores = np.concatenate([scores, t_X @ q])
            mask = np.concatenate([mask, np.ones(len(t_ids), dtype=bool)])
        if allowed is not None:
            mask &= np.isin(docs, allowed)
        candidates = np.flatnonzero(mask)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        best = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in best]


def _unit(X: Any) -> Any:
    """Rows scaled to length 1 (float32, contiguous), so a dot product is the cosine similarity."""
    import numpy as np

    X = np.ascontiguousarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return X / norms


class _BlasLimit:
    """``threadpoolctl``'s one-thread limit for BLAS, its controller built once (finding the libraries is slow)."""

    _controller: Any = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> Any:
        with cls._lock:
            if cls._controller is None:
                from threadpoolctl import ThreadpoolController

                cls._controller = ThreadpoolController()
        return cls._controller.limit(limits=1, user_api="blas")


def _one_blas_thread() -> Any:
    try:
        return _BlasLimit.get()
    except ImportError as exc:
        raise ConfigError("the knowledge base needs threadpoolctl: pip install 'openautoglm[kb]'") from exc
