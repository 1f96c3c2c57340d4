"""Filters: each returns the message (changed or not) or None to drop it."""
