"""Null: discards every message (counted as sent)."""

from .. import _core
from ..base import Output


class Null(Output):
    name = "Null"

    def open(self) -> None:
        self.sink = _core.NullSink()
