"""``files.read(path)``: a text file inside the configured root (``files_root``), and nothing outside it.

The path is refused before the file system is touched when it is absolute, uses ``..``, Windows separators or
drive letters, contains NUL or control characters, percent-encoding, or Unicode look-alikes that normalize to any
of those. What is left is resolved (symlinks followed) and must still lie inside the root; it is then opened one
component at a time relative to the root's directory handle with ``O_NOFOLLOW``, so a symlink swapped in after
the check cannot lead outside either. Only regular files are read (not FIFOs or devices), up to ``max_bytes``.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ToolError, UnsafeTargetError
from ..events import EventKind
from .base import Tool, ToolContext

DEFAULT_MAX_BYTES = 1_000_000
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_path_reason(path: str) -> str | None:
    """Why ``path`` (relative to the root) is refused unread, or None."""
    if not path:
        return "the path is empty"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "the path is not valid Unicode (lone surrogates)"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "the path contains NUL or control characters"
    if _PERCENT.search(path):
        return "the path contains URL percent-encoding; give the plain file name"
    for spelled, form in ((path, ""), (unicodedata.normalize("NFKC", path), " (after Unicode normalization)")):
        if "\\" in spelled:
            return f"the path uses a backslash (Windows separator){form}; use /"
        if spelled.startswith(("/", "~")) or _DRIVE.match(spelled) or spelled.startswith("//"):
            return f"the path is absolute{form}; give a path relative to the files root"
        if ".." in spelled.split("/"):
            return f"the path climbs out with '..'{form}"
    if unicodedata.normalize("NFKC", path) != path and any(
        unicodedata.normalize("NFKC", c) in ("/", ".", "\\", ":") for c in path if ord(c) > 127
    ):
        return "the path uses Unicode look-alikes of '/', '.', '\\' or ':'"
    return None


class FilesReadTool(Tool):
    name = "files.read"
    description = "Read a text file under the configured files folder (files_root), by its relative path."
    source = "builtin"
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "path": {"type": "string", "minLength": 1, "maxLength": 1024,
                     "description": "path relative to the files folder, with / between folders"},
        },
        "required": ["path"],
        "additionalProperties": False,
    }
    returns = {  # noqa: RUF012
        "type": "object",
        "properties": {"path": {"type": "string"}, "size": {"type": "integer"}, "text": {"type": "string"},
                       "truncated": {"type": "boolean"}, "encoding": {"type": "string"}},
    }

    def __init__(self, root: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root).expanduser()
        self.max_bytes = max_bytes

    def _deny(self, ctx: ToolContext, path: str, why: str) -> UnsafeTargetError:
        message = f"files.read refused {path[:200]!r}: {why}"
        ctx.emit(EventKind.TOOL_DENIED, tool=self.name, reason=message)
        return UnsafeTargetError(message)

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        path = str(args["path"])
        if why := unsafe_path_reason(path):
            raise self._deny(ctx, path, why)
        root = os.path.realpath(self.root)
        if not os.path.isdir(root):
            raise ConfigError(f"files_root {self.root} is not a folder; create it or fix the setting")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if not parts:
            raise ToolError("files.read: the path names the files folder itself; name a file inside it")
        resolved = os.path.realpath(os.path.join(root, *parts))
        if os.path.commonpath([root, resolved]) != root:
            raise self._deny(ctx, path, "it leads outside the files folder (through a symbolic link)")
        relative = os.path.relpath(resolved, root)
        if relative == "." or relative.startswith(".."):
            raise self._deny(ctx, path, "it leads outside the files folder")
        data, size = self._read(relative.split(os.sep), path, ctx)
        truncated = size > self.max_bytes
        text, encoding = _decode(data[: self.max_bytes], path, truncated)
        return {"path": relative.replace(os.sep, "/"), "size": size, "text": text, "truncated": truncated,
                "encoding": encoding}

    def _read(self, parts: list[str], shown: str, ctx: ToolContext) -> tuple[bytes, int]:
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        fds: list[int] = []
        try:
            fds.append(os.open(os.path.realpath(self.root), flags | getattr(os, "O_DIRECTORY", 0)))
            for part in parts[:-1]:
                fds.append(os.open(part, flags | nofollow | getattr(os, "O_DIRECTORY", 0), dir_fd=fds[-1]))
            fd = os.open(parts[-1], flags | nofollow | getattr(os, "O_NONBLOCK", 0), dir_fd=fds[-1])
            fds.append(fd)
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise ToolError(f"files.read: {shown!r} is a folder; name a file inside it")
            if not stat.S_ISREG(info.st_mode):
                raise self._deny(ctx, shown, "it is not a regular file (device, pipe or socket)")
            chunks: list[bytes] = []
            remaining = self.max_bytes
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            return b"".join(chunks), info.st_size
        except FileNotFoundError:
            raise ToolError(f"files.read: no file {shown!r} in the files folder") from None
        except NotADirectoryError:
            raise ToolError(f"files.read: {shown!r}: a part of the path is a file, not a folder") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link that appeared after the check
                raise self._deny(ctx, shown, "a symbolic link changed while it was being opened") from None
            raise ToolError(f"files.read: cannot read {shown!r}: {exc.strerror}") from None
        finally:
            for fd in reversed(fds):
                os.close(fd)

    def summarize(self, output: Any) -> str:
        if not isinstance(output, dict) or "text" not in output:
            return super().summarize(output)
        text = str(output["text"])
        return f"{output['path']}:\n{text[:2000]}" + ("…" if len(text) > 2000 or output.get("truncated") else "")


def _decode(data: bytes, shown: str, truncated: bool = False) -> tuple[str, str]:
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ToolError(f"files.read: {shown!r} is a binary file, not text")
    if truncated:  # the cut may split a UTF-8 sequence: drop its partial tail
        for cut in range(4):
            try:
                return data[: len(data) - cut].decode("utf-8-sig"), "utf-8"
            except UnicodeDecodeError:
                continue
    for encoding in ("utf-8-sig", "utf-16") if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig",):
        try:
            return data.decode(encoding), encoding.replace("-sig", "")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("gb18030"), "gb18030"  # common for Chinese text files that are not UTF-8
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), "utf-8 (with replacements)"
