"""All: drops every message."""

from ..base import Filter


class All(Filter):
    name = "All"

    def filter(self, message):
        return None
