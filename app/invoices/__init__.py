"""电子票据: the 财政电子票据 of each paid registration, bill and deposit, read from the HIS (``invoice``),
shown as a page and a PDF, with its QR code rendered locally (segno; the PDF by reportlab)."""
