"""Mixed Chinese and English documents for the knowledge-base tests, written fresh into a folder each time.

The PDF is written by hand (a few objects, one Helvetica font, ASCII text) so no PDF library is needed to make it;
the tests check that pypdf reads back what was written.
"""

from __future__ import annotations

from pathlib import Path


def _pdf_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A minimal valid PDF with one text line per string, one page per list."""
    objects: list[bytes] = []
    n_pages = len(pages)
    page_ids = [3 + 2 * i for i in range(n_pages)]
    font_id = 3 + 2 * n_pages
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, lines in enumerate(pages):
        content_id = page_ids[i] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 {font_id} 0 R >> >> "
            f"/Contents {content_id} 0 R >>".encode()
        )
        ops = ["BT", "/F1 11 Tf", "14 TL", "50 800 Td"]
        for line in lines:
            ops.append(f"({_pdf_text(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def write_docx(path: Path) -> Path:
    from docx import Document

    doc = Document()
    doc.add_heading("员工手册", level=1)
    doc.add_heading("年假", level=2)
    doc.add_paragraph("员工每年享有十五天带薪年假，未休完的假期可以顺延到下一年第一季度。")
    doc.add_heading("报销", level=2)
    doc.add_paragraph("差旅费用需要在出差结束后三十天内提交发票报销。")
    table = doc.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("级别", "每日餐补"), ("普通员工", "80元"), ("经理", "120元")]):
        table.rows[r].cells[0].text = a
        table.rows[r].cells[1].text = b
    doc.save(str(path))
    return path


RETURNS_MD = """# 售后服务

## 退货政策

商品签收后七天内，未经使用且包装完好的，可以申请无理由退货。退货运费由买家承担；如果是质量问题，运费由我们承担。
退款会在收到退货后的三个工作日内原路退回。

## 换货

| 情况 | 处理方式 |
|---|---|
| 尺码不合适 | 免费换货一次 |
| 质量问题 | 换新或者全额退款 |
"""

SHIPPING_TXT = """Shipping policy

Orders placed before 4 pm are shipped the same day. Delivery takes three to five working days within mainland China.

International orders take seven to fourteen days and customs duties are paid by the customer.
"""

FAQ_HTML = """<html><head><title>FAQ</title><style>p{color:red}</style></head><body>
<h1>Frequently asked questions</h1>
<h2>How do I reset my password?</h2>
<p>Open the login page, choose "Forgot password" and follow the link sent to your registered e-mail address.</p>
<h2>会员积分怎么用？</h2>
<p>每消费一元积一分，一百积分可以抵扣一元。</p>
<script>var tracking = "should not be indexed";</script>
</body></html>
"""

PRICES_CSV = "product,price,stock\nDesk lamp,129,40\n小风扇,59,200\nUSB cable,19,1000\n"

WARRANTY_PDF = [
    ["Warranty terms", "", "All devices carry a two-year warranty against manufacturing defects.",
     "Accidental damage and water damage are not covered."],
    ["Repairs", "", "Send the device to the service centre in Shenzhen with the original receipt."],
]


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "returns.md").write_text(RETURNS_MD, encoding="utf-8")
    (folder / "shipping.txt").write_text(SHIPPING_TXT, encoding="utf-8")
    (folder / "faq.html").write_text(FAQ_HTML, encoding="utf-8")
    (folder / "prices.csv").write_text(PRICES_CSV, encoding="utf-8")
    write_pdf(folder / "warranty.pdf", WARRANTY_PDF)
    write_docx(folder / "handbook.docx")
    return folder
