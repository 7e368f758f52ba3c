"""Cross-lingual search: remove the direction that separates Chinese from English in embedding space.

A multilingual embedder places texts of one language near each other whatever they say: asked in Chinese, e5 ranks
unrelated Chinese passages (cosine ~0.87) above the English passage that answers (~0.83), and BM25 cannot help
across languages. The language of a text is, to a good approximation, one direction: the difference ``d`` between
the mean Chinese and the mean English chunk vector (cf. Libovický et al. 2020, "On the language neutrality of
pre-trained multilingual representations", where removing language means improves cross-lingual retrieval).
Removing it from the query, ``q - (q·d) d``, drops the same-language bonus ``(q·d)(p·d)`` from every passage's
score and leaves the rest of the dot product unchanged (``q'·p = q·p - (q·d)(p·d)``), so the index is untouched.

The same sample gives each language's mean chunk vector ``m``, the background against which cross-lingual
relevance is judged (:meth:`LanguageDirection.centered`): every passage of one language scores a similar cosine
against any query (the embeddings share a common direction, cf. Mu & Viswanath 2018, "All-but-the-top"), so how
far a passage stands above ``q·m`` says more than the cosine itself, and does not move when the knowledge base
holds many near-copies (a mean, unlike a rank, is not pulled up by duplicates of the best passage).

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

LANGUAGES = ("zh", "en")
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
        self.centers: dict[str, Any] = {}
        self._load()
        if self.catalog.info("lang_centers_n") is None and self.catalog.count_chunks():
            self.refresh(force=True)  # a knowledge base built before the centres were kept

    def _vector(self, key: str) -> Any:
        import numpy as np

        raw = self.catalog.info(key)
        vector = np.frombuffer(base64.b64decode(raw), dtype=np.float32) if raw else None
        return vector if vector is not None and len(vector) == self.dim else None

    def _load(self) -> None:
        self.direction = self._vector("lang_direction")
        self.centers = {lang: v for lang in LANGUAGES if (v := self._vector(f"lang_center_{lang}")) is not None}

    def centered(self, query: Sequence[float], cosine: float, lang: str) -> float | None:
        """``cosine`` (of ``query`` and a passage in ``lang``) above the query's cosine with that language's mean
        passage; None when the knowledge base has too few passages in ``lang`` to know its mean."""
        import numpy as np

        center = self.centers.get(lang)
        if center is None:
            return None
        return cosine - float(np.asarray(query, dtype=np.float32) @ center)

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
            vectors = self.store.get(ids["zh"] + ids["en"])
            means = {}
            for lang in LANGUAGES:
                found = [vectors[i] for i in ids[lang] if i in vectors]
                if len(found) >= MIN_PER_LANGUAGE:
                    means[lang] = np.mean(np.asarray(found, dtype=np.float32), axis=0)
            direction = None
            if len(means) == len(LANGUAGES):
                diff = means["zh"] - means["en"]
                norm = float(np.linalg.norm(diff))
                if norm > 0:
                    direction = (diff / norm).astype(np.float32)
            self.catalog.set_info("lang_direction", base64.b64encode(direction.tobytes()).decode()
                                  if direction is not None else "")
            for lang in LANGUAGES:
                mean = means.get(lang)
                self.catalog.set_info(f"lang_center_{lang}", base64.b64encode(mean.astype(np.float32).tobytes())
                                      .decode() if mean is not None else "")
            self.catalog.set_info("lang_centers_n", str(n))
            self.catalog.set_info("lang_direction_n", str(n))
            self.catalog.conn.commit()
            self._load()
