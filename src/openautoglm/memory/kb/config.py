"""``knowledge:`` in autoglm.yaml: where the knowledge base lives and how it chunks and retrieves."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SourceConfig(BaseModel):
    """One entry of ``knowledge.sources``: a ``kind`` (sql, http, folder, or one registered in
    ``memory/kb/sources``), a ``name`` unique among the sources, and the options that kind reads (checked by the
    kind's own ``Options`` model when the source is built)."""

    model_config = ConfigDict(extra="allow")

    kind: str
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")


class KnowledgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(
        default="sqlite", description="the vector store: sqlite (sqlite-vec in the SQLite file), qdrant (a Qdrant "
        "server or local folder), or one registered in memory/kb/vectors.py or by an entry point"
    )
    path: Path | None = Field(
        default=None, description="SQLite file for the knowledge base (default: the app's SQLite database file)"
    )
    qdrant_url: str | None = Field(default=None, description="e.g. http://qdrant:6333")
    qdrant_path: Path | None = Field(default=None, description="Qdrant's local mode: a folder, or ':memory:'")
    qdrant_api_key: str | None = None
    collection: str = "autoglm_kb"
    chunk_chars: int = Field(default=600, ge=100, description="target chunk size in characters")
    chunk_overlap: int = Field(default=80, ge=0, description="characters repeated between neighbouring chunks")
    fusion: Literal["score", "rrf"] = Field(
        default="score",
        description="hybrid search: score (convex combination of normalised cosine and BM25 scores) or rrf "
        "(reciprocal rank fusion)",
    )
    vector_weight: float = Field(default=0.7, ge=0.0, le=1.0,
                                 description="fusion: score: the vector side's share of the fused score")
    candidates: int = Field(default=20, ge=1, description="hybrid search: chunks taken from each ranking before fusion")
    rrf_k: int = Field(default=60, ge=1, description="reciprocal rank fusion constant")
    language_debias: bool = Field(
        default=True,
        description="remove the Chinese-English direction from query vectors, so a question in one language "
        "finds passages in the other (see memory/kb/language.py)",
    )
    sources: list[SourceConfig] = Field(
        default_factory=list, description="what `autoglm kb sync` keeps up to date: SQL queries, JSON APIs, folders "
        "(see memory/kb/sources)")
    sync_interval_s: float | None = Field(
        default=None, gt=0, description="the gateway syncs every source this often (off when unset)")
    cross_lingual_relevance: bool = Field(
        default=True,
        description="judge a passage in the other language than the question on its own calibrated scale "
        "(see XL_SCALE in memory/kb/base.py), so the planner sends such questions to the knowledge base")
    answer: Literal["auto", "extract", "generate"] = Field(
        default="auto",
        description="knowledge.answer: quote the best sentences (extract), have the model write the answer "
        "(generate), or generate only with a model that can plan (auto)",
    )
