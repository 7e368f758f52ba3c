"""Static token vectors distilled from e5 itself (model2vec's recipe): hundreds of 150-token passages a second.

Each token's vector is e5's mean-pooled output for the token alone (``<s> token </s>``), computed by the numpy
encoder from the bundled weights the first time the token is met and kept in an on-disk cache (a memory-mapped
float16 table, one row per vocabulary piece, with a flag per row), so the cost is paid once per distinct token, on
this machine, for good. A text's vector is then the weighted mean of its tokens' vectors, after removing the mean
token vector (e5's outputs share a large common direction; model2vec's PCA removes it the same way), each token
weighted by ``a / (a + p)`` with ``p`` its unigram probability from the tokenizer (SIF: frequent pieces such as
"▁the" or "的" count little). No ``query:``/``passage:`` prefix: a token has one vector whatever the text's kind.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .forward import Encoder
from .tokenizer import Tokenizer
from .weights import E5Weights

SIF_A = 1e-4          # SIF weight a / (a + p) (model2vec's default coefficient)
MEAN_SAMPLE = 1024    # vocabulary pieces whose vectors estimate the mean token vector
DISTIL_BATCH = 512    # tokens per encoder call when distilling


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openautoglm"


class TokenVectors:
    """The cache: ``vectors.f16`` (pieces × hidden, float16) and ``done.u8`` (1 for each row computed), in a folder
    named after the model file's size and a hash of its head, so another model never reads these rows."""

    def __init__(self, weights: E5Weights, folder: Path) -> None:
        self.weights = weights
        with weights.path.open("rb") as f:
            digest = hashlib.sha256(f.read(1 << 20)).hexdigest()[:16]
        self.folder = folder / f"e5-static-{weights.path.stat().st_size}-{digest}"
        self.folder.mkdir(parents=True, exist_ok=True)
        n, h = len(weights.vocab.pieces), weights.hidden
        self.vectors = self._table("vectors.f16", np.float16, (n, h))
        self.done = self._table("done.u8", np.uint8, (n,))
        self._encoder: Encoder | None = None
        self.distilled = 0  # tokens this process computed

    def _table(self, name: str, dtype: type, shape: tuple[int, ...]) -> np.memmap:
        path = self.folder / name
        if not path.exists():
            # Made whole under another name, then linked into place (a link never replaces a file): a process
            # starting at the same moment never sees it short, nor empties one another has begun to fill.
            scratch = path.with_name(f".{name}.{os.getpid()}.{time.monotonic_ns()}")
            with scratch.open("wb") as f:  # sparse: only rows written take disk space
                f.truncate(int(np.prod(shape)) * np.dtype(dtype).itemsize)
            try:
                os.link(scratch, path)
            except FileExistsError:
                pass
            finally:
                scratch.unlink()
        return np.memmap(path, dtype=dtype, mode="r+", shape=shape)

    def fill(self, ids: np.ndarray, progress: Callable[[int], None] | None = None) -> int:
        """Distil the rows of ``ids`` not cached yet, in batches (``progress`` gets each batch's size); how many."""
        missing = ids[self.done[ids] == 0]
        for start in range(0, len(missing), DISTIL_BATCH):
            part = missing[start : start + DISTIL_BATCH]
            self._distil(part)
            if progress is not None:
                progress(len(part))
        return len(missing)

    def get(self, ids: np.ndarray) -> np.ndarray:
        """float32 vectors of ``ids``, distilling (and caching) the ones never met before."""
        missing = np.unique(ids[self.done[ids] == 0])
        if len(missing):
            self._distil(missing)
        return np.asarray(self.vectors[ids], dtype=np.float32)

    def _distil(self, ids: np.ndarray) -> None:
        if self._encoder is None:
            self._encoder = Encoder(self.weights)
        bos, eos = self.weights.vocab.bos, self.weights.vocab.eos
        for start in range(0, len(ids), DISTIL_BATCH):
            part = ids[start : start + DISTIL_BATCH]
            out = self._encoder.mean_pooled([[bos, int(i), eos] for i in part])
            self.vectors[part] = out.astype(np.float16)
            self.vectors.flush()
            self.done[part] = 1  # flagged only after the rows are on disk: a reader never sees a half row
            self.done.flush()
            self.distilled += len(part)


class StaticE5:
    """Texts to vectors through :class:`TokenVectors`: tokenize, look up, centre, SIF-weight, average."""

    def __init__(self, weights: E5Weights, cache_dir: Path | None = None, *, sif_a: float = SIF_A) -> None:
        self.weights = weights
        self.tokenizer = Tokenizer(weights.vocab)
        self.table = TokenVectors(weights, cache_dir or default_cache_dir())
        p = np.exp(weights.vocab.scores.astype(np.float64))
        self.weight = (sif_a / (sif_a + p)).astype(np.float32)
        sample = np.random.default_rng(0).choice(np.arange(4, len(weights.vocab.pieces)), MEAN_SAMPLE, replace=False)
        self.mean = self.table.get(sample).mean(axis=0)

    def most_frequent(self, count: int | None = None) -> np.ndarray:
        """Ids of the ``count`` most probable pieces (all, when None), most probable first, specials left out."""
        specials = {self.weights.vocab.bos, self.weights.vocab.eos, self.weights.vocab.pad, self.weights.vocab.unk}
        order = np.argsort(-self.weights.vocab.scores, kind="stable")
        order = order[~np.isin(order, list(specials))]
        return order if count is None else order[:count]

    def encode(self, texts: list[str]) -> np.ndarray:
        """One (not normalised) vector per text."""
        token_ids = [self.tokenizer.content_ids(t) or [self.weights.vocab.unk] for t in texts]
        flat = np.fromiter((i for ids in token_ids for i in ids), dtype=np.int64)
        weighted = (self.table.get(flat) - self.mean) * self.weight[flat][:, None]
        starts = np.cumsum([0] + [len(ids) for ids in token_ids])[:-1]
        return np.add.reduceat(weighted, starts, axis=0)
