"""Blocks into retrievable chunks that follow the document's structure.

- A chunk never spans two sections: a heading closes the chunk before it, and every chunk carries its heading path
  ("退货政策 › 运费"), which is also indexed, so a paragraph under "Returns" is found by "return".
- Paragraphs are packed up to ``chunk_chars``; a longer paragraph is cut at sentence ends (Chinese 。！？； as well
  as English .!?), and only a sentence longer than a whole chunk is cut mid-sentence.
- Neighbouring chunks of one section share up to ``overlap`` characters (whole trailing sentences).
- Tables are cut by rows, each row written as "header: value" pairs so every chunk is readable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from .documents import Block
from .text import sentences


@dataclass
class Chunk:
    ordinal: int
    text: str
    heading: str = ""
    page: int | None = None
    line: int | None = None
    row: int | None = None
    row_end: int | None = None
    place: str | None = None  # a record's own address (a row's key, an item's id), cited instead of lines

    @property
    def position(self) -> str:
        """Where in the file, for citations: page, line or table rows, and the section; for a record from a
        database or an API, its key (and which of its chunks, when it has several)."""
        if self.place is not None:
            return self.place if self.ordinal == 0 else f"{self.place} #{self.ordinal + 1}"
        parts = []
        if self.page is not None:
            parts.append(f"p.{self.page}")
        if self.row is not None:
            parts.append(f"rows {self.row}-{self.row_end}" if self.row_end and self.row_end != self.row
                         else f"row {self.row}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.heading:
            parts.append(f"§ {self.heading}")
        parts.append(f"#{self.ordinal + 1}")
        return " ".join(parts)

    @property
    def indexed_text(self) -> str:
        """What is embedded and keyword-indexed: the section's heading path, then the text."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@dataclass
class _Piece:
    text: str
    page: int | None
    line: int | None


class Chunker:
    def __init__(self, chunk_chars: int = 600, overlap: int = 80) -> None:
        if overlap >= chunk_chars:
            raise ValueError("chunk overlap must be smaller than the chunk size")
        self.chunk_chars = chunk_chars
        self.overlap = overlap

    def chunk(self, blocks: list[Block]) -> list[Chunk]:
        chunks: list[Chunk] = []
        path: list[tuple[int, str]] = []
        pending: list[_Piece] = []

        def heading() -> str:
            return " › ".join(text for _, text in path)

        def emit(text: str, page: int | None, line: int | None, row: int | None = None,
                 row_end: int | None = None) -> None:
            chunks.append(Chunk(len(chunks), text, heading(), page, line, row, row_end))

        def flush() -> None:
            nonlocal pending
            for text, page, line in self._pack(pending):
                emit(text, page, line)
            pending = []

        for block in blocks:
            if block.kind == "heading":
                flush()
                while path and path[-1][0] >= block.level:
                    path.pop()
                path.append((block.level, block.text))
            elif block.kind == "table":
                flush()
                for text, first, last in self._table(block):
                    emit(text, block.page, block.line, first, last)
            elif block.text:
                # A page break inside a section starts a new chunk, so each chunk cites one page.
                if pending and pending[-1].page != block.page:
                    flush()
                pending.append(_Piece(block.text, block.page, block.line))
        flush()
        return chunks

    def _pack(self, pieces: list[_Piece]) -> list[tuple[str, int | None, int | None]]:
        """Paragraphs packed into chunks; long ones cut at sentence ends; trailing sentences overlap."""
        units: list[_Piece] = []
        for p in pieces:
            if len(p.text) <= self.chunk_chars:
                units.append(p)
                continue
            for s in sentences(p.text):
                for start in range(0, len(s), self.chunk_chars):
                    units.append(_Piece(s[start : start + self.chunk_chars], p.page, p.line))
        out: list[tuple[str, int | None, int | None]] = []
        current: list[_Piece] = []
        size = 0
        for unit in units:
            if current and size + len(unit.text) + 1 > self.chunk_chars:
                out.append(self._text(current))
                carry = self._overlap(current)
                current = [_Piece(carry, unit.page, unit.line)] if carry else []
                size = len(carry)
            current.append(unit)
            size += len(unit.text) + 1
        if current:
            out.append(self._text(current))
        return out

    def _overlap(self, pieces: list[_Piece]) -> str:
        if not self.overlap:
            return ""
        tail = sentences(pieces[-1].text)
        kept: list[str] = []
        for s in reversed(tail):
            if sum(len(k) for k in kept) + len(s) > self.overlap:
                break
            kept.insert(0, s)
        return _glue(kept)

    @staticmethod
    def _text(pieces: list[_Piece]) -> tuple[str, int | None, int | None]:
        first = next((p for p in pieces if p.line is not None or p.page is not None), pieces[0])
        return "\n".join(p.text for p in pieces), first.page, first.line

    def _table(self, block: Block) -> list[tuple[str, int, int]]:
        rows = block.rows
        if not rows:
            return []
        header = rows[0] if len(rows) > 1 else []
        body = rows[1:] if header else rows
        out: list[tuple[str, int, int]] = []
        lines: list[str] = []
        first = 1
        size = 0
        for i, row in enumerate(body, start=1):
            if header:
                cells = [f"{h}: {v}" if h else v for h, v in zip(header, row, strict=False) if v]
                cells += [v for v in row[len(header):] if v]
            else:
                cells = [v for v in row if v]
            line = "; ".join(cells)
            if lines and size + len(line) + 1 > self.chunk_chars:
                out.append(("\n".join(lines), first, i - 1))
                lines, size, first = [], 0, i
            lines.append(line)
            size += len(line) + 1
        if lines:
            out.append(("\n".join(lines), first, len(body)))
        return out


def _glue(parts: list[str]) -> str:
    out = ""
    for p in parts:
        if out and not (out[-1] > "\u2e80" or p[:1] > "\u2e80"):
            out += " "
        out += p
    return out
