"""Cross-lingual search: remove the direction that separates Chinese from English in embedding space.

A multilingual embedder places texts of one language near each other whatever they say: asked in Chinese, e5 ranks
unrelated Chinese passages (cosine ~0.87) above the English passage that answers (~0.83), and BM25 cannot help
across languages. The language of a text is, to a good approximation, one direction: the difference ``d`` between
the mean Chinese and the mean English chunk vector (cf. Libovický et al. 2020, "On the language neutrality of
pre-trained multilingual representations", where removing language means improves cross-lingual retrieval).
Removing it from the query, ``q - (q·d) d``, drops the same-language bonus ``(q·d)(p·d)`` from every passage's
score and leaves the rest of the dot product unchanged (``q'·p = q·p - (q·d)(p·d)``), so the index is untouched.

``d`` is estimated from the knowledge base's own chunks (a sample of up to 2,000 per language, by script) after
ingestion, stored in ``kb_info`` so every process sees the same one, and estimated again when the number of chunks
has changed by a tenth. With fewer than ``MIN_PER_LANGUAGE`` chunks of either language there is nothing to remove
and queries pass through unchanged. On ``bench/kb_dev.py`` (the development set) it took vector recall@5 from
0.85 to 1.0; ``bench/knowledge.py`` reports the evaluation set.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from typing import Any

from ...language import script
from .catalog import Catalog
from .vectors import VectorStore

MIN_PER_LANGUAGE = 8
SAMPLE_PER_LANGUAGE = 2000


class LanguageDirection:
    """The Chinese-minus-English direction of one knowledge base's vectors, applied to query vectors."""

    def __init__(self, catalog: Catalog, store: VectorStore, dim: int) -> None:
        self.catalog = catalog
        self.store = store
        self.dim = dim
        self.lock = threading.Lock()
        self.direction: Any = None
        self._load()

    def _load(self) -> None:
        import numpy as np

        raw = self.catalog.info("lang_direction")
        vector = np.frombuffer(base64.b64decode(raw), dtype=np.float32) if raw else None
        self.direction = vector if vector is not None and len(vector) == self.dim else None

    def apply(self, query: Sequence[float]) -> list[float]:
        """``query`` without its component along the language direction (unchanged when there is none)."""
        import numpy as np

        d = self.direction
        if d is None:
            return list(query)
        q = np.asarray(query, dtype=np.float32)
        return (q - float(q @ d) * d).tolist()

    def refresh(self, force: bool = False) -> None:
        """Estimate the direction again if the number of chunks changed by a tenth since the last estimate."""
        import numpy as np

        with self.lock:
            n = self.catalog.count_chunks()
            at = self.catalog.info("lang_direction_n")
            if not force and at is not None and abs(n - int(at)) * 10 <= int(at):
                return
            sample = self.catalog.sample_chunks(4 * SAMPLE_PER_LANGUAGE)
            ids: dict[str, list[int]] = {"zh": [], "en": []}
            for cid, text in sample:
                lang = script(text)
                if lang is not None and len(ids[lang]) < SAMPLE_PER_LANGUAGE:
                    ids[lang].append(cid)
            direction = None
            if min(len(v) for v in ids.values()) >= MIN_PER_LANGUAGE:
                vectors = self.store.get(ids["zh"] + ids["en"])
                zh = [vectors[i] for i in ids["zh"] if i in vectors]
                en = [vectors[i] for i in ids["en"] if i in vectors]
                if min(len(zh), len(en)) >= MIN_PER_LANGUAGE:
                    diff = np.mean(np.asarray(zh, dtype=np.float32), axis=0) - np.mean(
                        np.asarray(en, dtype=np.float32), axis=0)
                    norm = float(np.linalg.norm(diff))
                    if norm > 0:
                        direction = (diff / norm).astype(np.float32)
            self.catalog.set_info("lang_direction", base64.b64encode(direction.tobytes()).decode()
                                  if direction is not None else "")
            self.catalog.set_info("lang_direction_n", str(n))
            self.catalog.conn.commit()
            self.direction = direction
