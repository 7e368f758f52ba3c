"""Reading files into structure: headings, paragraphs and tables, each with where it came from.

One reader per format; each returns a list of :class:`Block`. Readers for PDF, DOCX and HTML import their library
only when such a file is read. A file that cannot be read raises :class:`UnreadableFile` naming it and saying why.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import AutoGLMError


class UnreadableFile(AutoGLMError):
    """A file the knowledge base cannot read: its name and the reason are in the message."""

    http_status = 422
    error_type = "unreadable_file"


@dataclass
class Block:
    """One structural piece of a document."""

    kind: str  # heading | paragraph | table
    text: str = ""
    level: int = 0  # heading level, 1 = top
    rows: list[list[str]] = field(default_factory=list)  # table rows; rows[0] is the header when there is one
    page: int | None = None
    line: int | None = None  # first line (1-based) in text formats
    row: int | None = None  # first data row (1-based, header excluded) for tables


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(f"{path}: not text in UTF-8 or GB18030; convert it to UTF-8 and add it again")


def _paragraphs(lines: list[str], first_line: int = 1, page: int | None = None) -> list[Block]:
    """Paragraphs separated by blank lines; text without blank lines keeps one paragraph per line."""
    blocks: list[Block] = []
    buf: list[str] = []
    start = first_line
    blank_separated = any(not ln.strip() for ln in lines)

    def flush(next_line: int) -> None:
        nonlocal buf, start
        text = _join(buf)
        if text:
            blocks.append(Block("paragraph", text, page=page, line=start))
        buf = []
        start = next_line

    for i, line in enumerate(lines):
        lineno = first_line + i
        if not line.strip():
            flush(lineno + 1)
            continue
        if not buf:
            start = lineno
        buf.append(line.strip())
        if not blank_separated:
            flush(lineno + 1)
    flush(first_line + len(lines))
    return blocks


_CJK_END = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]$")
_CJK_START = re.compile(r"^[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _join(lines: list[str]) -> str:
    """Join wrapped lines: no space between Chinese characters, one space between words."""
    out = ""
    for line in lines:
        if out and not (_CJK_END.search(out) and _CJK_START.search(line)):
            out += " "
        out += line
    return out.strip()


def read_text(data: bytes, path: Path) -> list[Block]:
    return _paragraphs(_decode(data, path).splitlines())


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def _md_row(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def read_markdown(data: bytes, path: Path) -> list[Block]:
    lines = _decode(data, path).splitlines()
    blocks: list[Block] = []
    pending: list[str] = []
    pending_start = 1
    i = 0
    in_code = False

    def flush_text() -> None:
        nonlocal pending
        if pending:
            blocks.extend(_paragraphs(pending, pending_start))
        pending = []

    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            in_code = not in_code
        heading = None if in_code else _MD_HEADING.match(line)
        if heading:
            flush_text()
            blocks.append(Block("heading", heading.group(2), level=len(heading.group(1)), line=i + 1))
            i += 1
            continue
        if not in_code and line.strip().startswith("|") and i + 1 < len(lines) and _MD_TABLE_RULE.match(lines[i + 1]):
            flush_text()
            start = i + 1
            rows = [_md_row(line)]
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_md_row(lines[i]))
                i += 1
            blocks.append(Block("table", rows=rows, line=start, row=1))
            continue
        if not pending:
            pending_start = i + 1
        pending.append(line)
        i += 1
    flush_text()
    return blocks


def read_csv(data: bytes, path: Path) -> list[Block]:
    text = _decode(data, path)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), dialect)]
    except csv.Error as exc:
        raise UnreadableFile(f"{path}: not valid CSV ({exc})") from exc
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    return [Block("table", rows=rows, line=1, row=1)]


_HTML_SKIP = {"script", "style", "noscript", "template", "head", "nav", "footer"}


def read_html(data: bytes, path: Path) -> list[Block]:
    from bs4 import BeautifulSoup, Tag

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup.find_all(list(_HTML_SKIP)):
        tag.decompose()
    blocks: list[Block] = []
    body = soup.body or soup
    for el in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "table", "pre", "blockquote", "dd", "dt"]):
        if not isinstance(el, Tag):
            continue
        # Nested matches (a <p> inside an <li> or a table cell) are read with their container.
        if el.find_parent(["table", "li", "pre", "blockquote"]) is not None:
            continue
        if el.name and el.name[0] == "h" and el.name[1:].isdigit():
            text = " ".join(el.get_text(" ").split())
            if text:
                blocks.append(Block("heading", text, level=int(el.name[1:])))
        elif el.name == "table":
            rows = [[" ".join(c.get_text(" ").split()) for c in tr.find_all(["th", "td"])]
                    for tr in el.find_all("tr")]
            rows = [r for r in rows if any(r)]
            if rows:
                blocks.append(Block("table", rows=rows, row=1))
        else:
            text = " ".join(el.get_text(" ").split())
            if text:
                blocks.append(Block("paragraph", text))
    if not blocks:  # a page of bare text without paragraph tags
        blocks = _paragraphs(body.get_text("\n").splitlines())
    return blocks


def read_pdf(data: bytes, path: Path) -> list[Block]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs every oddity of a damaged file; the one error that matters is raised below, naming the file.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableFile(f"{path}: the PDF is encrypted; save an unencrypted copy and add that")
        blocks: list[Block] = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            blocks.extend(_paragraphs(text.splitlines(), page=number))
    except UnreadableFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableFile(f"{path}: not a readable PDF ({exc.__class__.__name__}: {exc})") from exc
    if not blocks:
        raise UnreadableFile(f"{path}: the PDF has no text layer (scanned?); run OCR on it first")
    for b in blocks:
        b.line = None  # PDF line numbers mean little; the page is the position
    return blocks


def read_docx(data: bytes, path: Path) -> list[Block]:
    import zipfile

    from docx import Document as open_docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        doc = open_docx(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableFile(f"{path}: not a readable .docx file ({exc.__class__.__name__}: {exc})") from exc
    blocks: list[Block] = []
    for item in doc.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            level = _docx_heading_level(style)
            if level:
                blocks.append(Block("heading", text, level=level))
            else:
                blocks.append(Block("paragraph", text))
        elif isinstance(item, Table):
            rows = [[cell.text.strip() for cell in r.cells] for r in item.rows]
            rows = [r for r in rows if any(r)]
            if rows:
                blocks.append(Block("table", rows=rows, row=1))
    return blocks


def _docx_heading_level(style: str) -> int:
    if style == "Title":
        return 1
    match = re.match(r"Heading (\d)", style)
    return int(match.group(1)) if match else 0


READERS: dict[str, Callable[[bytes, Path], list[Block]]] = {
    ".txt": read_text,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".csv": read_csv,
}


def supported(path: Path) -> bool:
    return path.suffix.lower() in READERS


def read_blocks(path: Path, data: bytes) -> list[Block]:
    """The blocks of ``path`` (whose bytes are ``data``); raises :class:`UnreadableFile`."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        kinds = " ".join(sorted(READERS))
        raise UnreadableFile(f"{path}: unsupported file type '{path.suffix}'; the knowledge base reads {kinds}")
    try:
        return reader(data, path)
    except UnreadableFile:
        raise
    except Exception as exc:  # a library's own error on a damaged file: name the file, keep the rest going
        raise UnreadableFile(f"{path}: could not be read ({exc.__class__.__name__}: {exc})") from exc

