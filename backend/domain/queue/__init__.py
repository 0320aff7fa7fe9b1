"""Moderation queues: photos and documents across members, oldest first, with exact totals from counters."""
