"""The e-invoice as the patient keeps it: an inline SVG QR code for the page, and a one-page A5 PDF laid
out like a 财政电子票据 (reportlab; the Chinese text in the standard STSong-Light CID font, so no font file
is needed on the server; the QR code drawn from segno's matrix as vector squares)."""

from __future__ import annotations

import io

import segno
from markupsafe import Markup
from reportlab.lib.pagesizes import A5, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from app import clock
from app.his.interface import Invoice
from app.services.formatting import yuan
from app.his.interface import InvoiceStatus

FONT = "STSong-Light"
KIND_TITLES = {"registration": "医疗门诊收费票据（电子）", "outpatient": "医疗门诊收费票据（电子）",
               "deposit": "医疗住院预交金收据（电子）"}


def qr_svg(text: str) -> Markup:
    """The QR code as inline SVG markup (no external request, allowed by the pages' CSP)."""
    return Markup(segno.make(text, error="m").svg_inline(scale=4, border=2, dark="#000", light="#fff"))


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def pdf(invoice: Invoice) -> bytes:
    """One A5 landscape page: title, 票据代码/号码/校验码/开票日期, payer and payee, items, total, QR code."""
    font = _font()
    buf = io.BytesIO()
    width, height = landscape(A5)
    c = canvas.Canvas(buf, pagesize=(width, height))
    c.setTitle(f"{invoice.payee} 电子票据 {invoice.invoice_no}")
    c.setFont(font, 16)
    c.drawCentredString(width / 2, height - 18 * mm, KIND_TITLES.get(invoice.kind, "医疗收费票据（电子）"))
    c.setFont(font, 9)
    left = 14 * mm
    rows = [f"票据代码：{invoice.invoice_code}", f"票据号码：{invoice.invoice_no}", f"校验码：{invoice.check_code}",
            f"开票日期：{invoice.issued_at:%Y-%m-%d}"]
    for i, text in enumerate(rows):
        c.drawString(left, height - (28 + 6 * i) * mm, text)
    c.drawString(left, height - 54 * mm, f"交款人：{invoice.payer}")
    c.drawString(left + 70 * mm, height - 54 * mm, f"收款单位：{invoice.payee}")
    top = height - 62 * mm
    c.line(left, top + 4 * mm, width - left, top + 4 * mm)
    c.drawString(left, top, "项目名称")
    c.drawRightString(width - left - 40 * mm, top, "金额（元）")
    y = top - 6 * mm
    for item in invoice.items:
        c.drawString(left, y, item.name)
        c.drawRightString(width - left - 40 * mm, y, yuan(item.amount_fen))
        y -= 6 * mm
    c.line(left, y + 3 * mm, width - left, y + 3 * mm)
    c.setFont(font, 11)
    c.drawString(left, y - 3 * mm, f"合计（小写）：¥{yuan(invoice.total_fen)}")
    if invoice.status == InvoiceStatus.VOIDED:
        c.setFont(font, 28)
        c.setFillColorRGB(0.8, 0.1, 0.1)
        c.drawCentredString(width / 2, height / 2, "已冲红")
        c.setFillColorRGB(0, 0, 0)
    # the QR code, top right, from segno's matrix
    matrix = [list(row) for row in segno.make(invoice.qr_text, error="m").matrix]
    size, cell = len(matrix), 28 * mm / len(matrix)
    x0, y0 = width - left - 28 * mm, height - 50 * mm
    for r, row in enumerate(matrix):
        for col, dark in enumerate(row):
            if dark:
                c.rect(x0 + col * cell, y0 + (size - 1 - r) * cell, cell, cell, stroke=0, fill=1)
    c.setFont(font, 7)
    c.drawString(left, 8 * mm, f"交易流水号：{invoice.trade_no}    本票据由医院电子票据系统开具，查验请扫描二维码。"
                              f"    打印时间：{clock.beijing_now():%Y-%m-%d %H:%M}")
    c.showPage()
    c.save()
    return buf.getvalue()
