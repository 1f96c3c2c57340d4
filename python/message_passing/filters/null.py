"""Null: passes every message on unchanged."""

from ..base import Filter


class Null(Filter):
    name = "Null"
