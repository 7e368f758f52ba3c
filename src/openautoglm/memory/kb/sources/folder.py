"""``kind: folder``: every supported file under a folder, as ``autoglm kb add FOLDER`` ingests it (cited by file
and line, page or rows); files gone from the folder are removed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ..ingest import IngestReport
from .base import Source, SourceError, knowledge_sources

if TYPE_CHECKING:
    from ..base import KnowledgeBase


class FolderSourceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path


@knowledge_sources.register("folder")
class FolderSource(Source):
    kind = "folder"
    Options = FolderSourceOptions
    options: FolderSourceOptions

    async def sync(self, kb: KnowledgeBase) -> IngestReport:
        root = self.options.path.expanduser()
        if not root.is_dir():
            # A folder that is gone (an unmounted share) must not read as "every file was deleted".
            raise SourceError(f"knowledge source '{self.name}': {root} is not a folder")
        return await asyncio.to_thread(kb.add, [root])
