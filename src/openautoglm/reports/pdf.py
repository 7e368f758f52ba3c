"""The report as PDF, with fpdf2: pure Python from PyPI (no browser, no Pango or Cairo), and it embeds the CFF
(OpenType) CJK fonts that Debian ships, which ReportLab-based converters cannot. Measured on this project's report
(3 charts, Chinese text, 2 cores): fpdf2 4.4 s, WeasyPrint 42 s (and it needs Pango from the system), xhtml2pdf
2.3 s but every Chinese character a box (it takes TrueType outlines only). Latin text and figures are set in
DejaVu Sans (shipped inside matplotlib), Chinese in the CJK font as a fallback, so figures extract from the PDF
exactly as printed.

The layout mirrors the HTML's parts: title and period, key figures, narrative, charts, ranked and shared tables.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..extras import require_extra
from .fonts import CJKFont

require_extra("reports", "report PDFs", "fpdf", "matplotlib")


def _dejavu() -> tuple[str, str]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return str(folder / "DejaVuSans.ttf"), str(folder / "DejaVuSans-Bold.ttf")


def _needs_cjk(context: dict[str, Any]) -> bool:
    """Whether any text printed is beyond Latin: loading a CJK font costs seconds, so English reports skip it."""
    texts = [context["report"]["title"], context["narrative"], *context["labels"].values(),
             *(f"{k['label']} {k['text']}" for k in context["key_figures"]),
             *(str(cell) for block in context["lists"] for row in [block["columns"], *block["rows"]] for cell in row),
             *(b["title"] for b in context["lists"])]
    return any(ord(ch) > 0x2E7F for text in texts for ch in str(text))


def render_pdf(context: dict[str, Any], font: CJKFont | None) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(format="A4")
    regular, bold = _dejavu()
    pdf.add_font("body", "", regular)
    pdf.add_font("body", "B", bold)
    if font is not None and _needs_cjk(context):
        # One face for regular and bold Chinese: each face of a CJK collection takes seconds to parse and subset.
        pdf.add_font("cjk", "", str(font.path), collection_font_number=font.index)
        pdf.set_fallback_fonts(["cjk"], exact_match=False)
    pdf.set_title(str(context["report"]["title"]))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    pdf.set_font("body", "B", 18)
    pdf.multi_cell(width, 10, str(context["report"]["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", "", 10)
    pdf.multi_cell(width, 6, f"{context['labels']['period']}: {context['period']['start']} – "
                   f"{context['period']['end']}    {context['labels']['generated']}: {context['generated_at']}",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    heading = FontFace(emphasis="BOLD", fill_color=(232, 238, 250))
    pdf.set_font("body", "", 10)
    with pdf.table(col_widths=(2, 1), headings_style=heading, line_height=7) as table:
        table.row([context["labels"]["figure"], context["labels"]["value"]])
        for item in context["key_figures"]:
            table.row([item["label"], item["text"]])
    pdf.ln(4)

    if context.get("narrative"):
        pdf.set_font("body", "B", 12)
        pdf.cell(width, 8, context["labels"]["narrative"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("body", "", 10)
        pdf.multi_cell(width, 6, context["narrative"], new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    for chart in context["charts"]:
        image_h = width * chart["height"] / chart["width"]
        if pdf.get_y() + image_h > pdf.h - pdf.b_margin:
            pdf.add_page()
        pdf.image(io.BytesIO(chart["png"]), w=width)
        pdf.ln(2)

    for block in context["lists"]:
        pdf.set_font("body", "B", 12)
        if pdf.get_y() + 30 > pdf.h - pdf.b_margin:
            pdf.add_page()
        pdf.cell(width, 8, block["title"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("body", "", 9)
        with pdf.table(headings_style=heading, line_height=6) as table:
            table.row(block["columns"])
            for row in block["rows"]:
                table.row([str(cell) for cell in row])
        pdf.ln(3)
    return bytes(pdf.output())
