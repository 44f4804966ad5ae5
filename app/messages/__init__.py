"""Notices to patients: ``notifications`` (written to the outbox in the caller's transaction, shown in the
message centre) and ``delivery`` (sending them through the channels, with backoff)."""
