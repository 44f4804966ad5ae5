"""WeChat Pay channel."""

from app.channels.wechat.pay import WechatPayChannel

__all__ = ["WechatPayChannel"]
