"""The report as HTML: its Jinja2 template (autoescaped) with the indicators, the charts as embedded PNG data URIs,
the query tables and the narrative. Filters ``money``, ``count``, ``percent``, ``share``, ``number`` and
``figure(format)`` write figures as the PDF and the answer do."""

from __future__ import annotations

from typing import Any

from ..extras import require_extra
from . import formatting

require_extra("reports", "report templates", "jinja2")


def render_html(template_text: str, context: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(money=formatting.money, count=formatting.count, percent=formatting.percent,
                       share=formatting.share, number=formatting.number, figure=formatting.figure)
    try:
        return env.from_string(template_text).render(**context)
    except jinja2.TemplateError as exc:
        from ..errors import ConfigError

        raise ConfigError(f"report template: {type(exc).__name__}: {exc}") from None
