"""Which files an ``add`` touches, and what happened to each: added, updated, unchanged, removed or failed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .documents import Block, supported


@dataclass
class FileError:
    source: str
    error: str


@dataclass
class Record:
    """One document from a source that is not a file: a database row, an API item.

    ``source`` is its key in the knowledge base (unique, stable across syncs); ``name`` and ``place`` are how an
    answer cites it (a table and a key, a URL and an item id); ``text`` is what is searched, one field a line.
    """

    source: str
    name: str
    type: str
    place: str
    text: str
    heading: str = ""

    @property
    def digest(self) -> str:
        return sha256(f"{self.name}\0{self.place}\0{self.heading}\0{self.text}".encode())

    def blocks(self) -> list[Block]:
        heading = [Block("heading", self.heading, level=1)] if self.heading else []
        return heading + [Block("paragraph", line.strip()) for line in self.text.splitlines() if line.strip()]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[FileError] = field(default_factory=list)
    chunks: int = 0  # chunks embedded and stored by this run
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        rate = f", {self.chunks / self.seconds:.1f} chunks/s" if self.seconds > 0 and self.chunks else ""
        return (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
                f"{len(self.removed)} removed, {len(self.failed)} failed; {self.chunks} chunks in "
                f"{self.seconds:.1f}s{rate}")

    def to_dict(self) -> dict[str, object]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged, "removed": self.removed,
                "failed": [{"source": f.source, "error": f.error} for f in self.failed], "chunks": self.chunks,
                "seconds": round(self.seconds, 3)}


def walk(root: Path) -> Iterator[Path]:
    """Supported files under ``root``, in a stable order; hidden files and folders are skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not name.startswith(".") and supported(path):
                yield path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def under(source: str, root: Path) -> bool:
    try:
        Path(source).relative_to(root)
        return True
    except ValueError:
        return False
