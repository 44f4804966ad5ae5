"""Inpatient services (住院服务): ``deposits`` (the stay, 押金 top-ups through the payment core, the daily
list and the total cost) and ``deposit_refunds`` (押金多退少补 at discharge, asked for by the HIS)."""
