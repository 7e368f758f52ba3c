"""``kind: http``: the items of a paged JSON API, each item a document cited by URL and item id.

```yaml
knowledge:
  sources:
    - kind: http
      name: articles
      url: https://help.example.com/api/articles
      items: data            # where the list is in each page ("" when the page is the list)
      id: id
      next: links.next       # the next page's URL in each page; or page_param: page (1, 2, ... until empty)
      headers: {Authorization: "env:HELP_TOKEN"}
```

Requests go through the HTTP tools' network guard: a private or loopback host is refused unless the source says
``allow_private: true`` (or ``http_allow`` lists it), exactly as for OpenAPI tools.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ....errors import AutoGLMError
from ....tools.http import HeaderValues
from ....tools.netguard import NetGuard
from ..ingest import Record
from .base import RecordSource, SourceError, field_lines, knowledge_sources


class HTTPSourceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="the first page")
    items: str = Field(default="items", description="dotted path to the list of items in a page; '' = the page")
    id: str = Field(default="id", description="the field that identifies an item")
    text: list[str] | None = Field(default=None, description="fields searched (default: every scalar field but "
                                   "id, title and url_field)")
    title: str | None = Field(default=None, description="a field used as each item's heading")
    url_field: str | None = Field(default=None, description="a field holding the item's own URL, cited instead of "
                                  "the API's")
    next: str | None = Field(default="next", description="dotted path to the next page's URL in a page")
    page_param: str | None = Field(default=None, description="page by this query parameter (1, 2, ...) until a "
                                   "page has no items, instead of `next`")
    max_pages: int = Field(default=1000, ge=1)
    headers: dict[str, str] = Field(default_factory=dict, description='sent with each request: a value or "env:VAR"')
    allow_private: bool = Field(default=False, description="let this API's own host be loopback/private on purpose")
    timeout_s: float | None = Field(default=None, gt=0, description="per page (default: http_timeout_s)")

    @model_validator(mode="after")
    def _scheme(self) -> HTTPSourceOptions:
        if not self.url.lower().startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")
        return self


@knowledge_sources.register("http")
class HTTPSource(RecordSource):
    kind = "http"
    Options = HTTPSourceOptions
    options: HTTPSourceOptions

    def guard(self) -> NetGuard:
        guard = NetGuard.from_settings(self.settings)
        if self.options.allow_private:
            # The user points this source at their own service on purpose: its host only, not where it redirects.
            guard = guard.with_allowed(httpx.URL(self.options.url).host)
        return guard

    async def records(self) -> list[Record]:
        o = self.options
        guard = self.guard()
        headers = HeaderValues(dict(o.headers), owner=f"knowledge.sources '{self.name}'").resolve()
        out: list[Record] = []
        url: str | None = o.url
        visited: set[str] = set()
        page = 1
        while url is not None:
            if page > o.max_pages:
                raise SourceError(f"knowledge source '{self.name}': more than max_pages ({o.max_pages}) pages")
            visited.add(url)
            params = {o.page_param: page} if o.page_param else None
            body = await self._page(guard, url, params, headers)
            items = _dig(body, o.items) if o.items else body
            if not isinstance(items, list):
                raise SourceError(f"knowledge source '{self.name}': {url} has no list at '{o.items}'")
            out.extend(self._record(item, url) for item in items)
            url = self._next(body, url, bool(items))
            if url in visited and not o.page_param:
                raise SourceError(f"knowledge source '{self.name}': page {url} links back to a page already read")
            page += 1
        return out

    async def _page(self, guard: NetGuard, url: str, params: dict[str, Any] | None,
                    headers: dict[str, str]) -> Any:
        try:
            response = await guard.get(url, params=params, headers=headers, secret_headers=headers,
                                       timeout_s=self.options.timeout_s)
        except AutoGLMError as exc:
            raise SourceError(f"knowledge source '{self.name}': {exc}") from exc
        if response.status_code >= 400:
            raise SourceError(f"knowledge source '{self.name}': {url} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"knowledge source '{self.name}': {url} did not answer JSON") from None

    def _next(self, body: Any, url: str, had_items: bool) -> str | None:
        o = self.options
        if o.page_param:
            return url if had_items else None
        link = _dig(body, o.next) if o.next and isinstance(body, dict) else None
        return str(httpx.URL(url).join(str(link))) if link else None

    def _record(self, item: Any, page_url: str) -> Record:
        o = self.options
        if not isinstance(item, dict) or item.get(o.id) in (None, ""):
            raise SourceError(f"knowledge source '{self.name}': an item at {page_url} has no '{o.id}'")
        ident = str(item[o.id])
        skip = {o.id, o.title, o.url_field}
        fields = o.text or [k for k, v in item.items() if k not in skip and isinstance(v, str | int | float)]
        cited = str(item.get(o.url_field) or "") if o.url_field else ""
        return Record(source=self.key(ident), name=cited or o.url, type="http", place=f"{o.id}={ident}",
                      text=field_lines(item, fields),
                      heading=str(item[o.title]) if o.title and item.get(o.title) is not None else "")


def _dig(value: Any, path: str | None) -> Any:
    for part in (path or "").split("."):
        if not part:
            continue
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
