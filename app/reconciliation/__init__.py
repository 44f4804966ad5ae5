"""Reconciliation (对账): ``runs`` (each channel's daily bill against our payments, refunds and the HIS;
resolving a difference) and ``desk`` (对账工作台: the days and their differences as finance works them)."""
