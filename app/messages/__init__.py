"""Notices to patients: ``notifications`` (written to the outbox in the caller's transaction, shown in the
message centre), ``delivery`` (sending them through the channels, with backoff) and ``content`` (what
patients read or answer: 服务说明 and 满意度调查, edited in the back-office)."""
