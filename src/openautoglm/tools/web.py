"""``web.fetch(url)``: the readable text of a web page, through the network guard.

HTML becomes plain text (scripts, styles and other non-content elements dropped, block elements on their own
lines) with the standard library's parser; text, JSON and XML pass through; anything else is refused. The body is
read up to ``http_max_bytes`` and the text cut to ``max_chars``, both flagged as ``truncated``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from ..errors import ToolError
from .base import Tool, ToolContext
from .netguard import NetGuard

DEFAULT_MAX_CHARS = 20_000
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "head"})
_BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset", "figcaption", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "table", "td", "th", "tr", "ul",
})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"})
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/ld+json", "application/rss+xml",
               "application/atom+xml")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.skip_depth = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in _SKIP and tag not in _VOID:
            self.skip_depth += 1
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in _SKIP and self.skip_depth:
            self.skip_depth -= 1
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title_parts.append(data)
        elif not self.skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """(title, text) of an HTML document."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(line for line in lines if line))
    return " ".join("".join(parser.title_parts).split()), text.strip()


class WebFetchTool(Tool):
    name = "web.fetch"
    description = "Fetch a web page (http/https) and return its readable text and title (网页内容)."
    source = "builtin"
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "url": {"type": "string", "minLength": 1, "maxLength": 2048, "description": "an http(s) URL"},
            "max_chars": {"type": "integer", "minimum": 100, "maximum": 200_000,
                          "description": "cut the text to this many characters"},
        },
        "required": ["url"],
        "additionalProperties": False,
    }
    returns = {  # noqa: RUF012
        "type": "object",
        "properties": {"url": {"type": "string"}, "status": {"type": "integer"}, "title": {"type": "string"},
                       "text": {"type": "string"}, "content_type": {"type": "string"},
                       "truncated": {"type": "boolean"}},
    }

    def __init__(self, guard: NetGuard, max_chars: int = DEFAULT_MAX_CHARS, timeout_s: float | None = None) -> None:
        self.guard = guard
        self.max_chars = max_chars
        self.timeout_s = timeout_s

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        url = str(args["url"]).strip()
        limit = int(args.get("max_chars") or self.max_chars)
        response = await self.guard.get(url, ctx=ctx, tool=self.name, truncate=True, timeout_s=self.timeout_s,
                                        headers={"accept": ACCEPT})
        if response.status_code >= 400:
            raise ToolError(f"web.fetch: {url} answered HTTP {response.status_code}")
        kind = response.content_type or "text/html"
        if not kind.startswith(_TEXT_TYPES) and "html" not in kind and "xml" not in kind:
            raise ToolError(f"web.fetch: {url} is {kind}, not a text page")
        raw = response.text
        title, text = html_to_text(raw) if "html" in kind else ("", raw.strip())
        truncated = response.truncated or len(text) > limit
        return {"url": response.url, "status": response.status_code, "content_type": kind, "title": title,
                "text": text[:limit], "truncated": truncated}

    def summarize(self, output: Any) -> str:
        if not isinstance(output, dict) or "text" not in output:
            return super().summarize(output)
        head = f"{output.get('title') or output.get('url')}\n" if output.get("title") else f"{output.get('url')}\n"
        text = str(output["text"])
        return head + (text[:1500] + ("…" if len(text) > 1500 or output.get("truncated") else ""))
