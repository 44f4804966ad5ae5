"""Alipay channel."""

from app.channels.alipay.pay import AlipayChannel

__all__ = ["AlipayChannel"]
