"""A font that draws Chinese, for charts and PDFs: ``reports.font`` from autoglm.yaml, else the first CJK font
installed (Noto Sans CJK from Debian's fonts-noto-cjk, WenQuanYi, Droid Sans Fallback, Source Han Sans). Without
one, Chinese text would print as empty boxes, so callers say so (a ``report.font_missing`` line in the result)."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# Simplified Chinese first: a collection's face is chosen by these words in its name.
_FILES = ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "NotoSansSC-Regular.otf", "wqy-zenhei.ttc",
          "wqy-microhei.ttc", "DroidSansFallbackFull.ttf", "DroidSansFallback.ttf", "SourceHanSansSC-Regular.otf")
_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"), "/Library/Fonts",
         "/System/Library/Fonts", "C:/Windows/Fonts")


@dataclass(frozen=True, slots=True)
class CJKFont:
    path: Path
    index: int  # the face within a .ttc collection (0 for a single font)


def _face_index(path: Path) -> int:
    if path.suffix.lower() != ".ttc":
        return 0
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(path), lazy=True)
    try:
        names = [str(font["name"].getDebugName(1) or "") for font in collection.fonts]
    finally:
        collection.close()
    return next((i for i, n in enumerate(names) if " SC" in n or "Zen Hei" in n or "Micro Hei" in n), 0)


@cache
def find_cjk_font(configured: str | None = None) -> CJKFont | None:
    if configured:
        path = Path(configured).expanduser()
        return CJKFont(path, _face_index(path)) if path.is_file() else None
    for name in _FILES:
        for folder in _DIRS:
            hits = glob.glob(f"{folder}/**/{name}", recursive=True)
            if hits:
                path = Path(sorted(hits)[0])
                return CJKFont(path, _face_index(path))
    return None
