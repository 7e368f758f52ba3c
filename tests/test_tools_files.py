"""files.read stays inside its root: traversal, absolute paths, symlinks, encodings, NUL, Windows separators."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openautoglm import AutoGLM
from openautoglm.config import Settings
from openautoglm.errors import ToolError, UnsafeTargetError
from openautoglm.events import EventKind
from openautoglm.models.scripted import ScriptedModel
from openautoglm.tools.files import FilesReadTool, unsafe_path_reason
from tools_net_support import Recorder

SECRET = "TOP-SECRET-OUTSIDE-THE-ROOT"

# Real-world traversal spellings (the classic dot-dot-slash family, encoded and Unicode variants, Windows forms).
TRAVERSALS = [
    "../secret.txt", "../../secret.txt", "notes/../../secret.txt", "./../secret.txt", "notes/./../../secret.txt",
    "..", "../", "....//secret.txt", "..//..//secret.txt",
    "/etc/passwd", "//etc/passwd", "///etc/passwd", "~/secret.txt", "~root/.ssh/id_rsa",
    "..\\secret.txt", "notes\\..\\..\\secret.txt", "C:\\Windows\\win.ini", "C:/Windows/win.ini", "\\\\server\\share",
    "%2e%2e/secret.txt", "%2e%2e%2fsecret.txt", "..%2fsecret.txt", "%252e%252e%252fsecret.txt", "..%c0%afsecret.txt",
    "..%ef%bc%8fsecret.txt", "%2e%2e%5csecret.txt", "notes/%2e%2e/%2e%2e/secret.txt",
    "\uff0e\uff0e/secret.txt", "\uff0e\uff0e\uff0fsecret.txt", "..\u2215secret.txt", "\u2024\u2024/secret.txt",
    "..\uff3csecret.txt", "notes\u2044..\u2044..\u2044secret.txt",
    "hello.txt\x00.png", "../secret.txt\x00", "hello.txt\n", "\ud800/secret.txt",
    "escape/secret.txt", "escape_dir/secret.txt", "notes/up/secret.txt", "loop",
]


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET, encoding="utf-8")
    (tmp_path / "secret.txt").write_text(SECRET, encoding="utf-8")
    root = tmp_path / "root"
    (root / "notes").mkdir(parents=True)
    (root / "hello.txt").write_text("你好，files.read", encoding="utf-8")
    (root / "notes" / "todo.md").write_text("- 写周报\n- buy tea\n", encoding="utf-8")
    (root / "gbk.txt").write_bytes("中文 GBK 文件".encode("gbk"))
    (root / "big.txt").write_text("字" * 50_000, encoding="utf-8")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    os.symlink(outside / "secret.txt", root / "escape")
    os.symlink(outside, root / "escape_dir")
    os.symlink(tmp_path, root / "notes" / "up")
    os.symlink(root / "loop", root / "loop")
    os.symlink(root / "notes" / "todo.md", root / "inside_link.md")
    os.mkfifo(root / "pipe")
    return root, outside


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_traversal_attempts_never_read_outside(layout: tuple[Path, Path], path: str) -> None:
    root, _ = layout
    rec = Recorder()
    with pytest.raises(ToolError) as caught:
        await FilesReadTool(root)({"path": path}, rec.ctx)
    assert SECRET not in str(caught.value)
    if isinstance(caught.value, UnsafeTargetError):
        assert rec.kinds() == [EventKind.TOOL_DENIED]


def test_refused_before_touching_the_file_system() -> None:
    assert unsafe_path_reason("../x") == "the path climbs out with '..'"
    assert "absolute" in (unsafe_path_reason("/etc/passwd") or "")
    assert "backslash" in (unsafe_path_reason("a\\b") or "")
    assert "percent" in (unsafe_path_reason("%2e%2e/x") or "")
    assert "NUL" in (unsafe_path_reason("a\x00b") or "")
    assert "Unicode normalization" in (unsafe_path_reason("\uff0e\uff0e/x") or "")
    assert "surrogates" in (unsafe_path_reason("\udcff") or "")
    assert unsafe_path_reason("notes/todo.md") is None and unsafe_path_reason("报告/周报.md") is None


async def test_symlink_out_of_root_is_denied_with_reason(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    with pytest.raises(UnsafeTargetError, match="outside the files folder"):
        await FilesReadTool(root)({"path": "escape"}, Recorder().ctx)
    with pytest.raises(UnsafeTargetError, match="outside the files folder"):
        await FilesReadTool(root)({"path": "notes/up/secret.txt"}, Recorder().ctx)


async def test_reads_text_inside_the_root(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    tool = FilesReadTool(root)
    hello = await tool({"path": "hello.txt"}, Recorder().ctx)
    assert hello == {"path": "hello.txt", "size": len("你好，files.read".encode()), "text": "你好，files.read",
                     "truncated": False, "encoding": "utf-8"}
    assert (await tool({"path": "./notes//todo.md"}, Recorder().ctx))["text"].startswith("- 写周报")
    linked = await tool({"path": "inside_link.md"}, Recorder().ctx)  # a link that stays inside is fine
    assert linked["path"] == "notes/todo.md"
    gbk = await tool({"path": "gbk.txt"}, Recorder().ctx)
    assert gbk["text"] == "中文 GBK 文件" and gbk["encoding"] == "gb18030"


async def test_limits_and_non_files(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    tool = FilesReadTool(root, max_bytes=1000)
    big = await tool({"path": "big.txt"}, Recorder().ctx)
    assert big["truncated"] and big["size"] == 150_000 and big["text"] == "字" * 333
    with pytest.raises(ToolError, match="binary"):
        await tool({"path": "blob.bin"}, Recorder().ctx)
    with pytest.raises(ToolError, match="is a folder"):
        await tool({"path": "notes"}, Recorder().ctx)
    with pytest.raises(UnsafeTargetError, match="not a regular file"):
        await tool({"path": "pipe"}, Recorder().ctx)  # O_NONBLOCK: a FIFO does not hang the tool
    with pytest.raises(ToolError, match=r"no file 'nope\.txt'"):
        await tool({"path": "nope.txt"}, Recorder().ctx)


async def test_files_read_is_registered_only_with_a_root(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    assert "files.read" not in AutoGLM(settings=Settings(), model=ScriptedModel(["x"])).tools
    app = AutoGLM(settings=Settings(files_root=root), model=ScriptedModel(["x"]))
    result = await app.execute({"steps": [{"id": "f", "uses": "files.read", "with": {"path": "../secret.txt"}}]})
    assert result.status == "failed" and "climbs out" in (result.steps[0].error or "")
    assert SECRET not in result.answer
    assert EventKind.TOOL_DENIED in [e.kind for e in app.trace(result.task_id)]
    await app.aclose()
