"""Every state a notice can be in has a name staff read (发送中 was shown as the raw word 'sending')."""

from __future__ import annotations

from app.admin.display import NOTICE_STATES
from app.backoffice.order_trace import _NOTICE_STATUS
from app.services.states import NoticeStatus


def test_every_notice_state_has_its_chinese_name_in_lists_and_in_the_trace():
    for status in NoticeStatus:
        assert str(status) in NOTICE_STATES, status
        assert str(status) in _NOTICE_STATUS, status
